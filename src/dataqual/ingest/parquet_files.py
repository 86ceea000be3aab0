"""Finding and opening the Parquet files of a source.

A folder holding ``manifest.json`` is read from the shard list of that manifest (its
order; a listed shard that is missing is an error, other files are ignored). Without a
manifest, a folder is read as ``ROOT/<split>/*.parquet`` plus ``ROOT/*.parquet``, in
natural file order. Every file returned passed the policy of :mod:`dataqual.ingest.paths`:
a ``*.parquet`` entry (or a listed shard, or the manifest itself) that is a device, FIFO,
broken link or a link leading out of the folder is a SourceError naming it, never skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.parquet as pq

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.ingest.formats import Probe
from dataqual.ingest.paths import file_problem, require_regular_file, resolved_root
from dataqual.ingest.reader import wrap_errors
from dataqual.ingest.split import natural_key
from dataqual.store.manifest import MANIFEST_NAME, Manifest

__all__ = [
    "PAR1",
    "check_manifest_rows",
    "detect_parquet",
    "find_parquet_files",
    "manifest_shards",
    "open_parquet",
    "read_error",
]

PAR1 = b"PAR1"


def read_error(path: Path, exc: BaseException) -> SourceError:
    """Our error for what pyarrow raised reading ``path``."""
    if path.exists() and path.stat().st_size < 12:
        return TruncatedError(
            path, f"file of {path.stat().st_size} bytes is too short to be Parquet"
        )
    return FormatError(path, f"cannot read as Parquet: {exc}")


def open_parquet(path: Path, root: Path | None = None) -> pq.ParquetFile:
    """Open a Parquet file after the policy check (``root`` resolved; default its folder)."""
    require_regular_file(path, resolved_root(path) if root is None else root)
    if path.stat().st_size == 0:
        raise TruncatedError(path, "file is empty")
    with path.open("rb") as f:
        if f.read(4) != PAR1:
            raise FormatError(path, "not a Parquet file (no PAR1 magic)")
    with wrap_errors(path, lambda exc: read_error(path, exc)):
        return pq.ParquetFile(path)


def manifest_shards(folder: Path) -> dict[str, list[Path]]:
    """Split -> shard paths listed by ``folder/manifest.json``, each checked to be a
    regular file inside the folder (the manifest too) before anything opens it."""
    root = resolved_root(folder)
    require_regular_file(folder / MANIFEST_NAME, root)
    manifest = Manifest.load(folder)
    by_split: dict[str, list[Path]] = {}
    for shard in manifest.shards:
        path = folder / shard.path
        if not os.path.lexists(path):
            raise SourceError(path, f"listed in {MANIFEST_NAME} but missing")
        problem = file_problem(path, root)
        if problem is not None:
            raise SourceError(path, f"listed in {MANIFEST_NAME} but {problem}")
        by_split.setdefault(shard.split, []).append(path)
    return by_split


def check_manifest_rows(folder: Path, rows: dict[tuple[str, Path], int]) -> None:
    """Every shard must hold the rows the manifest says (``rows``: (split, path) -> rows)."""
    manifest = Manifest.load(folder)
    for shard in manifest.shards:
        path = folder / shard.path
        got = rows[(shard.split, path)]
        if got != shard.rows:
            raise FormatError(path, f"holds {got} rows, {MANIFEST_NAME} says {shard.rows}")


def _parquet_entries(folder: Path, root: Path) -> list[Path]:
    """The ``*.parquet`` entries of ``folder`` (not hidden) in natural order, each checked
    to be a regular file inside ``root``: a bad one is an error naming it, not skipped."""
    out = []
    for entry in folder.iterdir():
        if entry.name[:1] == "." or entry.suffix != ".parquet":
            continue
        require_regular_file(entry, root)
        out.append(entry)
    return sorted(out, key=lambda p: natural_key(p.name))


def find_parquet_files(path: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """``({split: files in ROOT/<split>/}, [files directly in ROOT])`` of a folder, each in
    natural order (``part-2`` before ``part-10``); a file gives ``({}, [file])``.

    Every file returned passed the policy of :mod:`dataqual.ingest.paths`; a ``*.parquet``
    entry that does not is a SourceError naming it.
    """
    path = Path(path)
    root = resolved_root(path)
    if not path.is_dir():
        require_regular_file(path, root)
        return {}, [path]
    by_dir: dict[str, list[Path]] = {}
    for entry in sorted(path.iterdir(), key=lambda p: natural_key(p.name)):
        if entry.name[:1] != "." and entry.is_dir():
            files = _parquet_entries(entry, root)
            if files:
                by_dir[entry.name] = files
    return by_dir, _parquet_entries(path, root)


def detect_parquet(probe: Probe) -> bool:
    """A file starting with ``PAR1``, or a folder with a manifest or Parquet files."""
    if not probe.is_dir:
        return probe.head[:4] == PAR1
    # A manifest lists the shards (other files are not read): it decides before any scan.
    # lexists: a manifest that is a FIFO or a broken link is the Parquet reader's to refuse.
    if os.path.lexists(probe.path / MANIFEST_NAME):
        return True
    by_dir, flat = find_parquet_files(probe.path)
    return bool(by_dir or flat)
