"""The outcome of validating one stage: check results, findings and a JSON summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dataqual.checks.base import CheckResult, Severity
from dataqual.validate.thresholds import Thresholds

__all__ = ["FINDINGS_COLUMNS", "ValidationReport"]

FINDINGS_COLUMNS = ("id", "split", "check", "severity", "action", "detail", "stage")


@dataclass
class ValidationReport:
    """All check results of one stage (``raw`` or ``cleaned``)."""

    stage: str
    results: list[CheckResult]
    artefacts: dict[str, pd.DataFrame] = field(default_factory=dict)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def success(self) -> bool:
        """True when no error-severity check fails."""
        return all(r.success or r.severity != Severity.ERROR for r in self.results)

    def failed(self, severity: Severity | None = None) -> list[CheckResult]:
        return [
            r
            for r in self.results
            if not r.success and (severity is None or r.severity == severity)
        ]

    def findings(self) -> pd.DataFrame:
        """One row per (row, check) finding; table-level failures have an empty id."""
        frames = []
        for r in self.results:
            if r.success or r.skipped:
                continue
            n = len(r.ids)
            if n:
                detail = r.details if len(r.details) == n else np.full(n, r.description)
                frames.append(
                    pd.DataFrame(
                        {
                            "id": r.ids,
                            "split": _split_of(r.ids, r.split),
                            "check": r.name,
                            "severity": str(r.severity),
                            "action": str(r.action),
                            "detail": detail,
                            "stage": self.stage,
                        }
                    )
                )
            else:
                frames.append(
                    pd.DataFrame(
                        [
                            {
                                "id": "",
                                "split": r.split or "",
                                "check": r.name,
                                "severity": str(r.severity),
                                "action": str(r.action),
                                "detail": f"{r.description}: observed {r.observed}",
                                "stage": self.stage,
                            }
                        ]
                    )
                )
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype="string") for c in FINDINGS_COLUMNS})
        return pd.concat(frames, ignore_index=True).astype("string")[list(FINDINGS_COLUMNS)]

    def summary(self, examples: int = 5) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "success": self.success,
            "thresholds": self.thresholds.summary(),
            "checks": [r.summary(examples) for r in self.results],
        }


def _split_of(ids: np.ndarray, split: str | None) -> np.ndarray:
    if split is not None:
        return np.full(len(ids), split)
    return np.char.partition(ids.astype(str), "/")[:, 0]
