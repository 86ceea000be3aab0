"""The one result type of every check, and the vocabulary of severities and actions."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

__all__ = ["Action", "CheckResult", "Severity"]


class Severity(StrEnum):
    """``error`` blocks training when it still fails after cleaning; ``warning`` only reports."""

    ERROR = "error"
    WARNING = "warning"


class Action(StrEnum):
    """What cleaning does with a row that fails a row-level check.

    ``quarantine`` and ``drop`` remove the row into the quarantine table (``drop`` is for rows
    whose content survives elsewhere, such as the later copies of a duplicate); ``repair``
    fixes the image and keeps it; ``flag`` keeps it and lists it; ``none`` is for table-level
    checks that cleaning cannot fix.
    """

    QUARANTINE = "quarantine"
    DROP = "drop"
    REPAIR = "repair"
    FLAG = "flag"
    NONE = "none"

    @property
    def removes(self) -> bool:
        return self in (Action.QUARANTINE, Action.DROP)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one split (or the whole dataset when ``split`` is None).

    ``ids`` lists every failing row (empty for table-level checks); ``details`` holds one short
    text per failing row (e.g. ``"duplicate of train/12"``) or is empty. ``observed`` holds the
    measured values, reported whether or not the check fires.
    """

    name: str
    description: str
    severity: Severity
    action: Action
    success: bool
    split: str | None = None
    stage: str = "raw"
    ids: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    details: np.ndarray = field(default_factory=lambda: np.array([], dtype=str))
    element_count: int = 0
    observed: dict[str, Any] = field(default_factory=dict)
    repair: str | None = None
    suite: str | None = None
    engine: str = "dataqual"
    skipped: str | None = None

    @property
    def unexpected_count(self) -> int:
        return len(self.ids) if len(self.ids) else int(self.observed.get("unexpected_count", 0))

    def summary(self, examples: int = 5) -> dict[str, Any]:
        """A JSON-ready dict: name, success, counts and a few example ids."""
        return {
            "name": self.name,
            "description": self.description,
            "split": self.split,
            "suite": self.suite,
            "engine": self.engine,
            "severity": str(self.severity),
            "action": str(self.action),
            "success": bool(self.success),
            "skipped": self.skipped,
            "element_count": int(self.element_count),
            "unexpected_count": self.unexpected_count,
            "examples": [str(i) for i in self.ids[:examples]],
            "observed": _jsonable(self.observed),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
