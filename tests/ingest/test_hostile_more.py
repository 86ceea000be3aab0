"""The hostile inputs of issue 8 that the first corpus lacked, in the same :class:`Case` form,
so the CLI corpus test and the memory-capped run take them too (see ``ALL_CASES``)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dataqual.errors import FormatError, SourceError
from dataqual.imageset import ImageBatch
from dataqual.ingest.idx import IdxSource
from dataqual.ingest.sources import open_source
from dataqual.ingest.split import concat_batches

from . import writers as h
from .test_hostile import CASES, DATA, Case, X, Y


def _idx_512(tmp: Path) -> Path:
    """40 KB of gzip holding ten 512x512 images (2.6 MB raw)."""
    folder = tmp / "big"
    big = np.zeros((10, 512, 512), np.uint8)
    big[:, 200:300, 250:260] = 255
    return h.write_idx(folder, {"train": (big, Y[:10])}, gz=True)


def _idx_dangling_train(tmp: Path) -> Path:
    folder = h.write_idx(tmp / "idx", DATA)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / name).unlink()
        (folder / name).symlink_to(folder / "gone")
    return folder


def _idx_fifo_train(tmp: Path) -> Path:
    folder = h.write_idx(tmp / "idx", DATA)
    (folder / "train-images-idx3-ubyte").unlink()
    os.mkfifo(folder / "train-images-idx3-ubyte")
    return folder


def _idx_link_out(tmp: Path) -> Path:
    outside = h.write_idx(tmp / "elsewhere", DATA)
    folder = h.write_idx(tmp / "idx", {"test": DATA["test"]})
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / name).symlink_to(outside / name)
    return folder


def _idx_two_members(tmp: Path) -> Path:
    folder = h.write_idx(tmp / "idx", DATA)
    name = folder / "train-images-idx3-ubyte"
    raw = name.read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(
        gzip.compress(raw[:100]) + gzip.compress(raw[100:])
    )
    name.unlink()
    return folder


def _check_two_members(got: dict[str, ImageBatch]) -> None:
    assert got["train"].images.tobytes() == DATA["train"][0].tobytes()


def _csv_dev_zero(tmp: Path) -> Path:
    folder = tmp / "csvs"
    folder.mkdir()
    h.write_csv(folder / "test.csv", *DATA["test"])
    (folder / "train.csv").symlink_to("/dev/zero")
    return folder


def _superscript_names(tmp: Path) -> Path:
    root = tmp / "imgs"
    for i, name in enumerate(["a²b.png", "1²2.png", "²1.png", "10.png", "2.png"]):
        (root / "train" / "3").mkdir(parents=True, exist_ok=True)
        (root / "train" / "3" / name).write_bytes(h.png_bytes(X[i]))
    return root


def _check_superscripts(got: dict[str, ImageBatch]) -> None:
    ids = got["train"].ids.tolist()
    assert len(ids) == 5
    assert ids.index("train/3/2.png") < ids.index("train/3/10.png")


def _rgba_alpha_only(tmp: Path) -> Path:
    root = tmp / "imgs"
    for i in range(4):
        rgba = np.zeros((28, 28, 4), np.uint8)
        rgba[..., 3] = X[i]
        (root / "train" / "3").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgba, mode="RGBA").save(root / "train" / "3" / f"{i}.png")
    return root


def _check_alpha(got: dict[str, ImageBatch]) -> None:
    b = got["train"]
    assert b.images.tobytes() == X[:4].tobytes()
    assert b.defects["from_alpha"].tolist() == [1, 1, 1, 1]


def _npz_unit_floats(tmp: Path) -> Path:
    return h.write_npz(tmp / "f.npz", {s: (x / 255.0, y) for s, (x, y) in DATA.items()})


def _check_unit_floats(got: dict[str, ImageBatch]) -> None:
    for split, (x, _) in DATA.items():
        assert got[split].images.tobytes() == x.tobytes()
        assert got[split].defects["rescaled"].tolist() == [1] * len(x)
        assert not got[split].defects["pixels_out_of_range"].any()


def _shards_duplicate_ids(tmp: Path) -> Path:
    folder = h.write_shards(tmp / "shards", IdxSource.from_folder(h.write_idx(tmp / "i", DATA)))
    shard = sorted((folder / "train").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    ids = table.column("id").to_pylist()
    ids[1] = ids[0]
    table = table.set_column(table.schema.get_field_index("id"), "id", pa.array(ids))
    pq.write_table(table, shard)
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["shards"]:  # keep the manifest's checksums true to the bytes
        if entry["path"].endswith(shard.name) and "sha256" in entry:
            entry["sha256"] = h.sha256_file(shard)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _parquet_claims_huge(tmp: Path) -> Path:
    table = h.generic_table(X[:4], Y[:4], "fixed")
    meta = {b"dataqual.height": b"1000000", b"dataqual.width": b"1000000"}
    path = tmp / "huge.parquet"
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


def _csv_header_only(tmp: Path) -> Path:
    path = tmp / "only.csv"
    path.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
    return path


def _check_empty(got: dict[str, ImageBatch]) -> None:
    assert got == {}


MORE_CASES = [
    Case(
        "idx-512x512-over-max-side", _idx_512, SourceError, ("big", "512x512", "--max-image-side")
    ),
    Case(
        "idx-dangling-train-files",
        _idx_dangling_train,
        SourceError,
        ("train-images-idx3-ubyte", "leads nowhere"),
    ),
    Case("idx-fifo-train-images", _idx_fifo_train, SourceError, ("train-images", "FIFO")),
    Case("idx-train-links-out-of-folder", _idx_link_out, SourceError, ("train-", "outside")),
    Case("idx-multi-member-gzip", _idx_two_members, check=_check_two_members),
    Case("csv-folder-dev-zero", _csv_dev_zero, SourceError, ("train.csv", "device")),
    Case("img-superscript-names", _superscript_names, check=_check_superscripts),
    Case("img-rgba-alpha-only", _rgba_alpha_only, check=_check_alpha),
    Case("npz-floats-in-unit-range", _npz_unit_floats, check=_check_unit_floats),
    Case("pq-shard-duplicate-ids", _shards_duplicate_ids, FormatError, ("part-", "train/0")),
    Case(
        "pq-metadata-claims-1e6-side",
        _parquet_claims_huge,
        SourceError,
        ("huge.parquet", "1000000x1000000"),
    ),
    Case("csv-header-only", _csv_header_only, check=_check_empty),
]

#: The whole hostile corpus.
ALL_CASES = CASES + MORE_CASES


def test_no_id_twice() -> None:
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)


def read(path: Path, **options: object) -> dict[str, ImageBatch]:
    """Every non-empty split of the source as one batch."""
    source = open_source(path, **options)
    batches = {s.name: list(source.iter_batches(s.name, 5)) for s in source.splits()}
    return {name: concat_batches(b) for name, b in batches.items() if b}


@pytest.mark.parametrize("case", MORE_CASES, ids=[c.id for c in MORE_CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    if case.error is not None:
        with pytest.raises(case.error) as info:
            read(path, **case.options)
        for name in case.names:
            assert name in str(info.value), f"{name!r} not in {info.value}"
    else:
        assert case.check is not None
        case.check(read(path, **case.options))
