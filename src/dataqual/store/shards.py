"""Store: the cleaning pass that writes Parquet shards, the quarantine table and the manifest.

The source is streamed a second time; each chunk is split into kept rows (repairs applied)
and removed rows, so memory stays bounded by the chunk size. Shards are zstd Parquet files,
one folder per split, each written under a temporary name and renamed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataqual.clean import CleaningPlan, apply_repairs
from dataqual.files import atomic_path, sha256_file
from dataqual.imageset import DEFAULT_BATCH_ROWS, ImageBatch, ImageSource
from dataqual.store.manifest import Manifest, ShardEntry, SplitEntry
from dataqual.store.schema import batch_to_table, shard_schema
from dataqual.streams import default_workers, prefetch

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
    """What the store pass wrote."""

    manifest: Manifest
    quarantine_rows: int
    quarantine_path: Path


class _ShardPool:
    """Encodes and writes shards on background threads (zstd and Parquet encoding release
    the GIL), with at most that many shards in flight so memory stays bounded."""

    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="dataqual-shard")
        self._in_flight: deque[Future[tuple[str, dict[int, int]]]] = deque()
        self._limit = max(1, workers)

    def submit(self, path: Path, table: pa.Table) -> Future[tuple[str, dict[int, int]]]:
        while len(self._in_flight) >= self._limit:
            self._in_flight.popleft().result()
        future = self._pool.submit(_write_shard, path, table)
        self._in_flight.append(future)
        return future

    def close(self) -> None:
        """Wait for every shard; the first failure is raised after all have stopped."""
        self._pool.shutdown(wait=True)
        for future in self._in_flight:
            future.result()
        self._in_flight.clear()

    def __enter__(self) -> _ShardPool:
        return self

    def __exit__(self, *exc: object) -> None:
        # On failure no thread may still be writing when the caller removes the staging folder.
        self._pool.shutdown(wait=True, cancel_futures=True)


def _write_shard(path: Path, table: pa.Table) -> tuple[str, dict[int, int]]:
    """Write one shard atomically; return its sha256 and label counts."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=COMPRESSION)
    labels, counts = np.unique(table.column("label").to_numpy(), return_counts=True)
    return sha256_file(path), dict(zip(labels.tolist(), counts.tolist(), strict=True))


@dataclass
class _SplitWriter:
    root: Path
    split: str
    schema: pa.Schema
    shard_rows: int
    pool: _ShardPool
    pending: list[pa.Table] = field(default_factory=list)
    pending_rows: int = 0
    written: list[tuple[Path, int, Future[tuple[str, dict[int, int]]]]] = field(
        default_factory=list
    )

    def add(self, table: pa.Table) -> None:
        while table.num_rows:
            take = min(self.shard_rows - self.pending_rows, table.num_rows)
            self.pending.append(table.slice(0, take))
            self.pending_rows += take
            table = table.slice(take)
            if self.pending_rows >= self.shard_rows:
                self.flush()

    def flush(self) -> None:
        if not self.pending_rows and self.written:
            return
        table = pa.concat_tables(self.pending) if self.pending else self.schema.empty_table()
        rel = Path(self.split) / f"part-{len(self.written):05d}.parquet"
        self.written.append((rel, table.num_rows, self.pool.submit(self.root / rel, table)))
        self.pending, self.pending_rows = [], 0

    def entries(self) -> tuple[list[ShardEntry], dict[int, int]]:
        """The shards written, in order, and the split's label counts (after ``close``)."""
        shards, label_counts = [], {}
        for rel, rows, future in self.written:
            sha, counts = future.result()
            shards.append(ShardEntry(path=rel.as_posix(), split=self.split, rows=rows, sha256=sha))
            for lab, cnt in counts.items():
                label_counts[lab] = label_counts.get(lab, 0) + cnt
        return shards, label_counts


def _kept_batches(
    source: ImageSource, plan: CleaningPlan, rows: int
) -> Iterator[tuple[ImageBatch, np.ndarray]]:
    batches = (b for split in source.splits() for b in source.iter_batches(split.name, rows))
    for batch in prefetch(batches):
        yield batch, plan.rows_for(batch.ids)


def _quarantine_table(gone: ImageBatch, plan: CleaningPlan, q_schema: pa.Schema) -> pa.Table:
    """Removed rows with their reasons and details; a missing label is null."""
    labels = pa.array(gone.labels, pa.int64(), mask=gone.labels < 0)
    table = batch_to_table(replace(gone, labels=np.where(gone.labels < 0, 0, gone.labels)))
    table = table.set_column(2, q_schema.field("label"), labels)
    for name in ("reasons", "details"):
        values = getattr(plan, name).reindex(gone.ids).tolist()
        table = table.append_column(q_schema.field(name), pa.array(values, pa.list_(pa.string())))
    return table.replace_schema_metadata(q_schema.metadata)


def _manifest(h: int, w: int, writers: dict[str, _SplitWriter]) -> Manifest:
    written = {name: wr.entries() for name, wr in writers.items()}
    return Manifest(
        height=h,
        width=w,
        splits={
            name: SplitEntry(
                rows=sum(s.rows for s in shards),
                label_counts={str(k): v for k, v in sorted(counts.items())},
            )
            for name, (shards, counts) in written.items()
        },
        shards=[s for shards, _ in written.values() for s in shards],
    )


def write_dataset(
    source: ImageSource,
    plan: CleaningPlan,
    out_dir: Path,
    *,
    quarantine_path: Path,
    shard_rows: int = DEFAULT_SHARD_ROWS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    workers: int | None = None,
) -> StoreResult:
    """Stream the source again, write kept rows (repairs applied) as shards and removed
    rows to quarantine. Returns the manifest, without lineage (the pipeline adds it).

    ``workers`` (default :func:`dataqual.streams.default_workers`) is the run's thread
    budget; shards are encoded on all but one of them, which is left to the thread that
    feeds them (and, in a pipeline run, to validating the cleaned data beside this pass).
    """
    h, w = source.shape
    schema = shard_schema(h, w)
    out_dir = Path(out_dir)
    writers: dict[str, _SplitWriter] = {}
    q_schema = QUARANTINE_SCHEMA(h, w)
    quarantined = 0
    threads = max(1, (default_workers() if workers is None else workers) - 1)
    with (
        _ShardPool(threads) as pool,
        atomic_path(quarantine_path) as q_tmp,
        pq.ParquetWriter(q_tmp, q_schema, compression=COMPRESSION) as qw,
    ):
        for batch, rows in _kept_batches(source, plan, batch_rows):
            writer = writers.setdefault(
                batch.split, _SplitWriter(out_dir, batch.split, schema, shard_rows, pool)
            )
            removed = plan.remove[rows]
            if removed.any():
                qw.write_table(_quarantine_table(batch.take(removed), plan, q_schema))
                quarantined += int(removed.sum())
            kept = batch.take(~removed) if removed.any() else batch
            writer.add(batch_to_table(apply_repairs(kept, plan.repairs_at(rows[~removed]))))
        for writer in writers.values():
            writer.flush()
        pool.close()
    manifest = _manifest(h, w, writers)
    log.info(
        "stored %d rows in %d shards, quarantined %d",
        sum(s.rows for s in manifest.shards),
        len(manifest.shards),
        quarantined,
    )
    return StoreResult(
        manifest=manifest, quarantine_rows=quarantined, quarantine_path=Path(quarantine_path)
    )
