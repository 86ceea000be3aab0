"""Clean: turn row-level findings into a per-row decision — keep, repair or remove.

Each failing row-level check carries an action (from its suite). A row is removed when any
of its findings says ``quarantine`` or ``drop``; otherwise it is repaired when any says
``repair``; ``flag`` only lists it. Removed rows keep every reason, so nothing is lost
without a trace: the store layer writes them, images included, to the quarantine table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataqual.checks.base import Action
from dataqual.validate.report import ValidationReport

__all__ = ["PIXEL_REPAIRS", "CleaningPlan", "plan_cleaning"]

#: Repairs that change pixels in the store pass; the others were applied by the reader
#: (clip, resize, convert) and only need recording.
PIXEL_REPAIRS = ("invert",)


@dataclass(frozen=True)
class CleaningPlan:
    """Per-row decisions aligned to the profile's rows (``ids``)."""

    ids: pd.Index
    remove: np.ndarray
    repair: np.ndarray
    invert: np.ndarray
    reasons: pd.Series  # id -> list of check names, for removed rows
    details: pd.Series  # id -> list of details, for removed rows

    @property
    def counts(self) -> dict[str, int]:
        return {
            "rows": len(self.ids),
            "kept": int((~self.remove).sum()),
            "repaired": int((self.repair & ~self.remove).sum()),
            "quarantined": int(self.remove.sum()),
        }

    def rows_for(self, ids: np.ndarray) -> np.ndarray:
        """Positions in this plan of the given ids (all must be known)."""
        idx = self.ids.get_indexer(ids)
        if (idx < 0).any():
            raise KeyError(
                f"{int((idx < 0).sum())} ids are not in the cleaning plan, e.g. {ids[idx < 0][0]}"
            )
        return idx


def plan_cleaning(ids: pd.Series | np.ndarray, report: ValidationReport) -> CleaningPlan:
    """Decide each row's fate from the raw report's row-level findings."""
    index = pd.Index(np.asarray(ids, dtype=str))
    n = len(index)
    remove = np.zeros(n, bool)
    repair = np.zeros(n, bool)
    invert = np.zeros(n, bool)
    removed_frames = []
    for result in report.results:
        if result.success or not len(result.ids) or result.action in (Action.FLAG, Action.NONE):
            continue
        rows = index.get_indexer(result.ids)
        rows = rows[rows >= 0]
        if result.action.removes:
            remove[rows] = True
            details = (
                result.details
                if len(result.details) == len(result.ids)
                else np.full(len(result.ids), "")
            )
            removed_frames.append(
                pd.DataFrame({"id": result.ids, "check": result.name, "detail": details})
            )
        elif result.action == Action.REPAIR:
            repair[rows] = True
            if result.repair == "invert":
                invert[rows] = True
    if removed_frames:
        removed = pd.concat(removed_frames, ignore_index=True)
        reasons = removed.groupby("id", sort=False)["check"].agg(list)
        details = removed.groupby("id", sort=False)["detail"].agg(list)
    else:
        reasons = details = pd.Series(dtype=object)
    return CleaningPlan(
        ids=index,
        remove=remove,
        repair=repair,
        invert=invert & ~remove,
        reasons=reasons,
        details=details,
    )
