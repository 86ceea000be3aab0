"""The data as it will be stored: pixel repairs applied, and the cleaned data's profile.

The cleaned profile is derived here, before anything is written, so validating the cleaned
data and writing the shards can run at the same time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from dataqual.clean.plan import CleaningPlan
from dataqual.imageset import DEFAULT_BATCH_ROWS, DEFECT_NAMES, ImageBatch, ImageSource
from dataqual.profile import PROFILE_COLUMNS, Profile, profile_batch, thumbnails
from dataqual.repairs import get_repair

__all__ = ["apply_repairs", "cleaned_profile"]


def apply_repairs(batch: ImageBatch, repairs: Mapping[str, np.ndarray]) -> ImageBatch:
    """``batch`` with each pixel repair applied to the rows its mask marks (and the labels a
    label repair sets).

    Repairs run in name order, so a row marked for two gets both in a fixed order. Only the
    images of a repair's output are used; it must return the rows it was given.
    """
    images: np.ndarray | None = None
    labels = batch.labels
    for name in sorted(repairs):
        mask = repairs[name]
        if not mask.any():
            continue
        current = replace(batch, images=batch.images if images is None else images, labels=labels)
        fixed = get_repair(name)(current.take(mask))
        if fixed.images.shape != (int(mask.sum()), *batch.shape):
            raise ValueError(
                f"repair {name!r} returned images of shape {fixed.images.shape}, "
                f"expected {(int(mask.sum()), *batch.shape)}"
            )
        images = batch.images.copy() if images is None else images
        images[mask] = fixed.images
        if not np.array_equal(fixed.labels, labels[mask]):  # a label repair (relabel_K)
            labels = labels.copy()
            labels[mask] = fixed.labels
    if images is None:
        return batch
    return replace(batch, images=images, labels=labels)


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


def _reprofile(
    plan: CleaningPlan, source: ImageSource, batch_rows: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Profile and thumbnails of the rows whose pixels a repair changes, repaired."""
    changed_rows = plan.pixel_repaired
    tables: list[pd.DataFrame] = []
    thumbs: list[np.ndarray] = []
    for split in source.splits():
        for batch in source.iter_batches(split.name, batch_rows):
            rows = plan.rows_for(batch.ids)
            changed = changed_rows[rows]
            if changed.any():
                fixed = apply_repairs(batch, plan.repairs_at(rows)).take(changed)
                tables.append(profile_batch(fixed))
                thumbs.append(thumbnails(fixed.images))
    return pd.concat(tables, ignore_index=True), np.concatenate(thumbs)


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
    if not plan.pixel_repaired.any():
        return Profile(table=table, thumbs=thumbs, shape=raw.shape)
    fresh, fresh_thumbs = _reprofile(plan, source, batch_rows)
    where = pd.Index(table["id"]).get_indexer(fresh["id"])
    stale = np.zeros(len(table), bool)
    stale[where] = True
    order = np.argsort(np.concatenate([np.flatnonzero(~stale), where]), kind="stable")
    fresh = _as_stored(fresh, np.ones(len(fresh), bool))
    table = pd.concat([table[~stale], fresh], ignore_index=True).iloc[order].reset_index(drop=True)
    thumbs = thumbs.copy()
    thumbs[where] = fresh_thumbs
    return Profile(table=table, thumbs=thumbs, shape=raw.shape)
