"""The cleaning plan: each row's fate (keep, repair, remove) and why, decided from findings.

Each failing row-level check carries an action (from its suite). A row is removed when any
of its findings says ``quarantine`` or ``drop``; otherwise it is repaired when any says
``repair``; ``flag`` only lists it. The label repair ``relabel`` (detail ``relabel_to=K``)
becomes the repair ``relabel_K`` of its rows. Removed rows keep every reason, so nothing is lost
without a trace: the store layer writes them, images included, to the quarantine table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dataqual.checks.base import Action, CheckResult
from dataqual.errors import ConfigError
from dataqual.repairs import RELABEL, is_pixel_repair, relabel_repair, repair_names
from dataqual.validate.report import ValidationReport

__all__ = ["CleaningPlan", "plan_cleaning", "reasons_series"]


def reasons_series(ids: list[object], values: list[list[str]], name: str) -> pd.Series:
    """``id -> list of str`` as every plan holds it (object index named ``id``)."""
    index = pd.Index(ids, dtype=object, name="id")
    return pd.Series(values, index=index, dtype=object, name=name)


@dataclass(frozen=True, eq=False)
class CleaningPlan:
    """Per-row decisions aligned to the profile's rows (``ids``).

    ``repair`` marks every kept row that is repaired (by the reader or by a pixel repair);
    ``repairs`` maps each pixel repair the plan uses to the kept rows it applies to.
    ``reasons`` and ``details`` hold, for each removed row, the failing checks and their
    details.
    """

    ids: pd.Index
    remove: np.ndarray
    repair: np.ndarray
    repairs: dict[str, np.ndarray]
    reasons: pd.Series
    details: pd.Series

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": len(self.ids),
            "kept": int((~self.remove).sum()),
            "repaired": int((self.repair & ~self.remove).sum()),
            "quarantined": int(self.remove.sum()),
        }

    @property
    def pixel_repaired(self) -> np.ndarray:
        """Rows whose pixels a repair changes (the union of ``repairs``)."""
        mask = np.zeros(len(self.ids), bool)
        for rows in self.repairs.values():
            mask |= rows
        return mask

    def repairs_at(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """``repairs`` restricted to the given positions (an index or a mask)."""
        return {name: mask[rows] for name, mask in self.repairs.items()}

    def rows_for(self, ids: np.ndarray) -> np.ndarray:
        """Positions in this plan of the given ids (all must be known)."""
        idx = self.ids.get_indexer(ids)
        if (idx < 0).any():
            raise KeyError(
                f"{int((idx < 0).sum())} ids are not in the cleaning plan, e.g. {ids[idx < 0][0]}"
            )
        return idx

    def equals(self, other: CleaningPlan) -> bool:
        """Same rows, decisions, repairs (in the same order) and reasons."""
        return (
            self.ids.equals(other.ids)
            and np.array_equal(self.remove, other.remove)
            and np.array_equal(self.repair, other.repair)
            and list(self.repairs) == list(other.repairs)
            and all(np.array_equal(m, other.repairs[k]) for k, m in self.repairs.items())
            and self.reasons.equals(other.reasons)
            and self.details.equals(other.details)
        )

    def save(self, path: str | Path) -> Path:
        """Write the plan as one Parquet file (see :mod:`dataqual.clean.planfile`)."""
        from dataqual.clean.planfile import save_plan

        return save_plan(self, path)

    @classmethod
    def load(cls, path: str | Path) -> CleaningPlan:
        """Read a plan written by :meth:`save`."""
        from dataqual.clean.planfile import load_plan

        return load_plan(path)


def _check_repair(result: CheckResult) -> None:
    if result.repair is not None and result.repair not in repair_names():
        raise ConfigError(
            f"check {result.name!r} names unknown repair {result.repair!r}; known: "
            f"{', '.join(repair_names())} (is the plugin that registers it loaded?)"
        )


def _relabel(repairs: dict[str, np.ndarray], rows: np.ndarray, details: np.ndarray, n: int) -> None:
    """Mark ``rows`` for ``relabel_K``, K read from each detail ``relabel_to=K``."""
    for row, detail in zip(rows, details, strict=True):
        target = str(detail).rpartition("=")[2]
        if not target.isdigit():
            raise ConfigError(f"relabel needs a detail 'relabel_to=<class>', got {detail!r}")
        repairs.setdefault(relabel_repair(int(target)), np.zeros(n, bool))[row] = True


def plan_cleaning(ids: pd.Series | np.ndarray, report: ValidationReport) -> CleaningPlan:
    """Decide each row's fate from the raw report's row-level findings."""
    index = pd.Index(np.asarray(ids, dtype=object), dtype=object)
    n = len(index)
    remove = np.zeros(n, bool)
    repair = np.zeros(n, bool)
    repairs: dict[str, np.ndarray] = {}
    removed_frames = []
    for result in report.results:
        if result.success or not len(result.ids) or result.action in (Action.FLAG, Action.NONE):
            continue
        rows = index.get_indexer(result.ids)
        known = rows >= 0
        rows = rows[known]
        if result.action.removes:
            remove[rows] = True
            details = (
                result.details
                if len(result.details) == len(result.ids)
                else np.full(len(result.ids), "")
            )
            removed_frames.append(
                pd.DataFrame({"id": result.ids, "check": result.name, "detail": details})[known]
            )
        elif result.action == Action.REPAIR:
            _check_repair(result)
            repair[rows] = True
            if result.repair == RELABEL:
                _relabel(repairs, rows, result.details[known], n)
            elif is_pixel_repair(result.repair):
                repairs.setdefault(str(result.repair), np.zeros(n, bool))[rows] = True
    if removed_frames:
        removed = pd.concat(removed_frames, ignore_index=True)
        groups = removed.groupby("id", sort=False)
        reasons = groups["check"].agg(list)
        details = groups["detail"].agg(list)
        reasons = reasons_series(reasons.index.tolist(), reasons.tolist(), "reasons")
        details = reasons_series(details.index.tolist(), details.tolist(), "details")
    else:
        reasons = reasons_series([], [], "reasons")
        details = reasons_series([], [], "details")
    return CleaningPlan(
        ids=index,
        remove=remove,
        repair=repair,
        repairs={name: mask & ~remove for name, mask in repairs.items()},
        reasons=reasons,
        details=details,
    )
