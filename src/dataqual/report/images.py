"""Images for the report: PNG data URIs and reading only the flagged rows from the run's tables.

Removed rows come from the quarantine table, kept rows from the shards (their repaired
version). Each Parquet file is first scanned by its ``id`` column, and only files holding a
wanted id are read, filtered by id with pyarrow.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
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
    if wanted and quarantine is not None and Path(quarantine).is_file():
        found.update(_read_rows(Path(quarantine), wanted, "quarantine", shape))
    rest = wanted - found.keys()
    files = [f for f in _shard_files(shards) if rest and _holds_any(f, rest)]
    with ThreadPoolExecutor(max_workers=min(len(files), 8) or 1) as pool:
        for part in pool.map(lambda f: _read_rows(f, rest, "shards", shape), files):
            found.update(part)
    return found


def _shard_files(shards: Path | None) -> list[Path]:
    if shards is None or not Path(shards).is_dir():
        return []
    try:
        manifest = Manifest.load(shards)
    except FormatError:
        return sorted(Path(shards).glob("*/part-*.parquet"))
    return [Path(shards) / s.path for s in manifest.shards if (Path(shards) / s.path).is_file()]


def _holds_any(file: Path, wanted: set[str]) -> bool:
    ids = pq.read_table(file, columns=["id"]).column("id")
    return bool(pc.any(pc.is_in(ids, value_set=pa.array(sorted(wanted), pa.string()))).as_py())


def _read_rows(
    file: Path, wanted: set[str], origin: str, shape: tuple[int, int]
) -> dict[str, StoredImage]:
    """The rows of ``file`` whose id is in ``wanted`` (a pyarrow filter on ``id``)."""
    meta = pq.read_schema(file).metadata or {}
    h = int(meta.get(b"dataqual.height", shape[0]))
    w = int(meta.get(b"dataqual.width", shape[1]))
    table = pq.read_table(
        file, columns=["id", "label", "image"], filters=[("id", "in", sorted(wanted))]
    )
    if table.num_rows == 0:
        return {}
    images = table_images(table, h, w)
    ids, labels = table.column("id").to_pylist(), table.column("label").to_pylist()
    return {
        rid: StoredImage(image=images[i].copy(), label=labels[i], origin=origin)
        for i, rid in enumerate(ids)
    }
