"""Clean: turn row-level findings into a per-row decision — keep, repair or remove.

Each failing row-level check carries an action (from its suite). A row is removed when any
of its findings says ``quarantine`` or ``drop``; otherwise it is repaired when any says
``repair``; ``flag`` only lists it. Removed rows keep every reason, so nothing is lost
without a trace: the store layer writes them, images included, to the quarantine table.

The cleaned data's profile is derived here, before anything is written, so validating the
cleaned data and writing the shards can run at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from dataqual.checks.base import Action
from dataqual.imageset import DEFAULT_BATCH_ROWS, DEFECT_NAMES, ImageBatch, ImageSource
from dataqual.profile import PROFILE_COLUMNS, Profile, profile_batch, thumbnails
from dataqual.validate.report import ValidationReport

__all__ = ["PIXEL_REPAIRS", "CleaningPlan", "apply_repairs", "cleaned_profile", "plan_cleaning"]

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
    index = pd.Index(np.asarray(ids, dtype=object), dtype=object)
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


def apply_repairs(batch: ImageBatch, invert: np.ndarray) -> ImageBatch:
    """``batch`` with the pixel repairs applied to the rows marked in ``invert``."""
    if not invert.any():
        return batch
    images = batch.images.copy()
    images[invert] = 255 - images[invert]
    return replace(batch, images=images)


def _as_stored(table: pd.DataFrame, repaired: np.ndarray) -> pd.DataFrame:
    """Profile rows as their repaired images are stored: the reader's repairs (clip, rescale,
    resize, convert, ...) are done, so their defect counters are 0, and the source min/max
    become those of the stored pixels (clip and round are monotone, so
    ``clip(rint(source min))`` is the stored image's min; a rescaled row is scaled first)."""
    table = table.reset_index(drop=True)
    if not repaired.any():
        return table
    table = table.copy()
    scale = np.where(table["defect_rescaled"].to_numpy()[repaired] > 0, 255.0, 1.0)
    for column in ("pixel_min", "pixel_max"):
        values = table[column].to_numpy(dtype=np.float64)[repaired]
        stored = np.clip(np.rint(values * scale), 0, 255)
        table.loc[repaired, column] = stored.astype(table[column].dtype, copy=False)
    for name in DEFECT_NAMES:
        table.loc[repaired, f"defect_{name}"] = 0
    return table


def cleaned_profile(
    raw: Profile,
    plan: CleaningPlan,
    source: ImageSource,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Profile:
    """The profile of the data as it will be stored: the raw profile's kept rows, with the
    rows whose pixels get repaired profiled again from their repaired images.

    Only when the plan repairs pixels is the source read (for those rows only; a memoised
    source serves them from memory). ``batch_rows`` should be the run's chunk size, which
    is what a memoised source keeps.
    """
    ids = pd.Index(raw.table["id"].to_numpy(dtype=object), dtype=object)
    rows = np.arange(len(ids)) if plan.ids.equals(ids) else plan.rows_for(ids.to_numpy())
    keep = ~plan.remove[rows]
    table = _as_stored(raw.table.loc[keep, list(PROFILE_COLUMNS)], plan.repair[rows][keep])
    thumbs = raw.thumbs[keep]
    if not plan.invert.any():
        return Profile(table=table, thumbs=thumbs, shape=raw.shape)
    fresh_tables: list[pd.DataFrame] = []
    fresh_thumbs: list[np.ndarray] = []
    for split in source.splits():
        for batch in source.iter_batches(split.name, batch_rows):
            invert = plan.invert[plan.rows_for(batch.ids)]
            if invert.any():
                changed = apply_repairs(batch, invert).take(invert)
                fresh_tables.append(profile_batch(changed))
                fresh_thumbs.append(thumbnails(changed.images))
    fresh = pd.concat(fresh_tables, ignore_index=True)
    where = pd.Index(table["id"]).get_indexer(fresh["id"])
    stale = np.zeros(len(table), bool)
    stale[where] = True
    order = np.argsort(np.concatenate([np.flatnonzero(~stale), where]), kind="stable")
    fresh = _as_stored(fresh, np.ones(len(fresh), bool))
    table = pd.concat([table[~stale], fresh], ignore_index=True).iloc[order].reset_index(drop=True)
    thumbs = thumbs.copy()
    thumbs[where] = np.concatenate(fresh_thumbs)
    return Profile(table=table, thumbs=thumbs, shape=raw.shape)
