"""Images for the report: PNG data URIs and reading only the flagged rows from the run's tables.

Removed rows come from the quarantine table, kept rows from the shards (their repaired
version). Each Parquet file is first scanned by its ``id`` column, and only files holding a
wanted id are read, filtered by id with pyarrow.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from dataqual.errors import FormatError
from dataqual.store.manifest import Manifest
from dataqual.store.schema import table_images

__all__ = ["StoredImage", "fetch_images", "png_data_uri"]


@dataclass(frozen=True)
class StoredImage:
    """One row's image and label as stored; ``origin`` is ``"quarantine"`` or ``"shards"``."""

    image: np.ndarray
    label: int | None
    origin: str


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 grayscale image as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def fetch_images(
    ids: Iterable[str],
    *,
    quarantine: Path | None,
    shards: Path | None,
    shape: tuple[int, int],
) -> dict[str, StoredImage]:
    """Images of ``ids``: quarantined rows first, then kept rows from the shards.

    Ids found nowhere are simply absent from the result.
    """
    wanted = {str(i) for i in ids if i}
    found: dict[str, StoredImage] = {}
    if not wanted:
        return found
    files: list[tuple[Path, str]] = []
    if quarantine is not None and Path(quarantine).is_file():
        files.append((Path(quarantine), "quarantine"))
    files.extend((f, "shards") for f in _shard_files(shards))
    for file, origin in files:
        rest = wanted - found.keys()
        if not rest:
            break
        found.update(_read_rows(file, rest, origin, shape))
    return found


def _shard_files(shards: Path | None) -> list[Path]:
    if shards is None or not Path(shards).is_dir():
        return []
    try:
        manifest = Manifest.load(shards)
    except FormatError:
        return sorted(Path(shards).glob("*/part-*.parquet"))
    return [Path(shards) / s.path for s in manifest.shards if (Path(shards) / s.path).is_file()]


def _read_rows(file: Path, wanted: set[str], origin: str, shape: tuple[int, int]) -> dict[str, StoredImage]:
    pf = pq.ParquetFile(file)
    if pf.metadata.num_rows == 0:
        return {}
    value_set = pa.array(sorted(wanted), pa.string())
    if not pc.any(pc.is_in(pf.read(columns=["id"]).column("id"), value_set=value_set)).as_py():
        return {}
    meta = pf.schema_arrow.metadata or {}
    h = int(meta.get(b"dataqual.height", shape[0]))
    w = int(meta.get(b"dataqual.width", shape[1]))
    table = pq.read_table(file, columns=["id", "label", "image"], filters=[("id", "in", sorted(wanted))])
    if table.num_rows == 0:
        return {}
    images = table_images(table, h, w)
    out = {}
    for i, (rid, label) in enumerate(zip(table.column("id").to_pylist(), table.column("label").to_pylist(),
                                         strict=True)):
        out[rid] = StoredImage(image=images[i].copy(), label=label, origin=origin)
    return out
