"""Store: the cleaning pass that writes Parquet shards, the quarantine table and the manifest.

The source is streamed a second time; each chunk is split into kept rows (repairs applied)
and removed rows, so memory stays bounded by the chunk size. Shards are zstd Parquet files,
one folder per split, each written under a temporary name and renamed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataqual.clean import CleaningPlan
from dataqual.files import atomic_path, sha256_file
from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageBatch, ImageSource
from dataqual.profile import PROFILE_COLUMNS, Profile, profile_batch, thumbnails
from dataqual.store.manifest import Manifest, ShardEntry, SplitEntry
from dataqual.store.schema import batch_to_table, shard_schema
from dataqual.streams import prefetch

__all__ = ["DEFAULT_SHARD_ROWS", "QUARANTINE_SCHEMA", "StoreResult", "write_dataset"]

log = logging.getLogger(__name__)

DEFAULT_SHARD_ROWS = 20_000
COMPRESSION = "zstd"


def QUARANTINE_SCHEMA(height: int, width: int) -> pa.Schema:
    """Shard columns plus ``reasons`` and ``details`` (list<string>); ``label`` may be null."""
    base = shard_schema(height, width)
    return pa.schema(
        [
            base.field("id"),
            base.field("split"),
            pa.field("label", pa.int64(), nullable=True),
            base.field("image"),
            pa.field("reasons", pa.list_(pa.string()), nullable=False),
            pa.field("details", pa.list_(pa.string()), nullable=False),
        ],
        metadata=base.metadata,
    )


@dataclass
class StoreResult:
    """What the store pass wrote and the profile of the cleaned data."""

    manifest: Manifest
    cleaned: Profile
    quarantine_rows: int
    quarantine_path: Path


@dataclass
class _SplitWriter:
    root: Path
    split: str
    schema: pa.Schema
    shard_rows: int
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0
    shards: list[ShardEntry] = field(default_factory=list)
    label_counts: dict[int, int] = field(default_factory=dict)

    def add(self, table: pa.Table) -> None:
        while table.num_rows:
            take = min(self.shard_rows - self.pending_rows, table.num_rows)
            self.pending.append(table.slice(0, take))
            self.pending_rows += take
            table = table.slice(take)
            if self.pending_rows >= self.shard_rows:
                self.flush()

    def flush(self) -> None:
        if not self.pending_rows and self.shards:
            return
        table = pa.concat_tables(self.pending) if self.pending else self.schema.empty_table()
        rel = Path(self.split) / f"part-{len(self.shards):05d}.parquet"
        path = self.root / rel
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression=COMPRESSION)
        labels, counts = np.unique(table.column("label").to_numpy(), return_counts=True)
        for lab, cnt in zip(labels.tolist(), counts.tolist(), strict=True):
            self.label_counts[lab] = self.label_counts.get(lab, 0) + cnt
        self.shards.append(
            ShardEntry(
                path=rel.as_posix(), split=self.split, rows=table.num_rows, sha256=sha256_file(path)
            )
        )
        self.pending, self.pending_rows = [], 0


def _cleaned_profile(
    raw: Profile, plan: CleaningPlan, tables: list[pd.DataFrame], thumbs: list[np.ndarray]
) -> Profile:
    """Raw profile rows that were kept, with re-profiled rows for repaired pixels."""
    rows = plan.rows_for(raw.table["id"].to_numpy(dtype=str))
    keep = ~plan.remove[rows]
    table = raw.table.loc[keep, list(PROFILE_COLUMNS)].reset_index(drop=True)
    kept_thumbs = raw.thumbs[keep]
    if tables:
        fresh = pd.concat(tables, ignore_index=True)
        where = pd.Index(table["id"]).get_indexer(fresh["id"])
        stale = np.zeros(len(table), bool)
        stale[where] = True
        order = np.argsort(np.concatenate([np.flatnonzero(~stale), where]), kind="stable")
        table = (
            pd.concat([table[~stale], fresh], ignore_index=True).iloc[order].reset_index(drop=True)
        )
        kept_thumbs = kept_thumbs.copy()
        kept_thumbs[where] = np.concatenate(thumbs)
    return Profile(table=table, thumbs=kept_thumbs, shape=raw.shape)


def _apply_repairs(batch: ImageBatch, invert: np.ndarray) -> ImageBatch:
    if not invert.any():
        return batch
    images = batch.images.copy()
    images[invert] = 255 - images[invert]
    return replace(batch, images=images)


def _kept_batches(
    source: ImageSource, plan: CleaningPlan, rows: int
) -> Iterator[tuple[ImageBatch, np.ndarray]]:
    batches = (b for split in source.splits() for b in source.iter_batches(split.name, rows))
    for batch in prefetch(batches):
        yield batch, plan.rows_for(batch.ids)


def write_dataset(
    source: ImageSource,
    plan: CleaningPlan,
    out_dir: Path,
    *,
    quarantine_path: Path,
    raw_profile: Profile,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> StoreResult:
    """Stream the source again, write kept rows as shards and removed rows to quarantine.

    Returns the manifest (without lineage; the pipeline adds it) and the cleaned profile:
    the raw profile's kept rows, with the rows whose pixels were repaired profiled again
    from the images actually written.
    """
    h, w = source.shape
    schema = shard_schema(h, w)
    out_dir = Path(out_dir)
    writers: dict[str, _SplitWriter] = {}
    repaired_tables: list[pd.DataFrame] = []
    repaired_thumbs: list[np.ndarray] = []
    q_schema = QUARANTINE_SCHEMA(h, w)
    quarantined = 0
    with (
        atomic_path(quarantine_path) as q_tmp,
        pq.ParquetWriter(q_tmp, q_schema, compression=COMPRESSION) as qw,
    ):
        for batch, rows in _kept_batches(source, plan, batch_rows):
            writer = writers.setdefault(
                batch.split, _SplitWriter(out_dir, batch.split, schema, shard_rows)
            )
            removed = plan.remove[rows]
            if removed.any():
                gone = batch.take(removed)
                reasons = plan.reasons.reindex(gone.ids)
                details = plan.details.reindex(gone.ids)
                labels = pa.array(gone.labels, pa.int64(), mask=gone.labels < 0)
                qtable = batch_to_table(
                    replace(gone, labels=np.where(gone.labels < 0, 0, gone.labels))
                )
                qtable = qtable.set_column(2, q_schema.field("label"), labels)
                qtable = qtable.append_column(
                    q_schema.field("reasons"), pa.array(reasons.tolist(), pa.list_(pa.string()))
                )
                qtable = qtable.append_column(
                    q_schema.field("details"), pa.array(details.tolist(), pa.list_(pa.string()))
                )
                qw.write_table(qtable.replace_schema_metadata(q_schema.metadata))
                quarantined += len(gone)
            kept = batch.take(~removed) if removed.any() else batch
            inverted = plan.invert[rows][~removed]
            kept = _apply_repairs(kept, inverted)
            writer.add(batch_to_table(kept))
            if inverted.any():
                changed = kept.take(inverted)
                repaired_tables.append(profile_batch(changed))
                repaired_thumbs.append(thumbnails(changed.images))
    for writer in writers.values():
        writer.flush()
    splits = {
        name: SplitEntry(
            rows=sum(s.rows for s in wr.shards),
            label_counts={str(k): v for k, v in sorted(wr.label_counts.items())},
        )
        for name, wr in writers.items()
    }
    manifest = Manifest(
        height=h,
        width=w,
        splits=splits,
        shards=[s for wr in writers.values() for s in wr.shards],
    )
    cleaned = _cleaned_profile(raw_profile, plan, repaired_tables, repaired_thumbs)
    log.info(
        "stored %d rows in %d shards, quarantined %d",
        cleaned.table.shape[0],
        len(manifest.shards),
        quarantined,
    )
    return StoreResult(
        manifest=manifest,
        cleaned=cleaned,
        quarantine_rows=quarantined,
        quarantine_path=Path(quarantine_path),
    )
