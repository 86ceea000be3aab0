"""The shard manifest: round trip, checksums against the files, and tampering detected."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dataqual import __version__
from dataqual.clean import plan_cleaning
from dataqual.errors import FormatError
from dataqual.ingest.idx import IdxSource
from dataqual.profile import profile_batches
from dataqual.store.manifest import MANIFEST_NAME, Lineage, Manifest, SourceFile
from dataqual.store.shards import write_dataset
from dataqual.validate.report import ValidationReport
from tests.helpers import make_idx_dataset, random_images


@pytest.fixture
def shards(tmp_path: Path) -> tuple[Manifest, Path]:
    """Shards of 9 train and 4 test rows of 6x4 images, 4 rows per shard, nothing removed."""
    folder = make_idx_dataset(
        tmp_path / "src",
        random_images(9, (6, 4), seed=5),
        np.arange(9) % 3,
        random_images(4, (6, 4), seed=6),
        np.array([0, 0, 1, 2]),
    )
    source = IdxSource.from_folder(folder)
    raw = profile_batches(
        (b for s in source.splits() for b in source.iter_batches(s.name)), source.shape
    )
    plan = plan_cleaning(raw.table["id"], ValidationReport(stage="raw", results=[]))
    out = tmp_path / "out"
    res = write_dataset(source, plan, out, quarantine_path=tmp_path / "q.parquet", shard_rows=4)
    return res.manifest, out


def test_manifest_describes_the_shards(shards: tuple[Manifest, Path]) -> None:
    manifest, out = shards
    assert (manifest.format, manifest.schema_version) == ("dataqual-shards", "1")
    assert (manifest.height, manifest.width) == (6, 4)
    assert manifest.columns == ["id", "split", "label", "image"]
    assert {k: v.rows for k, v in manifest.splits.items()} == {"train": 9, "test": 4}
    assert manifest.splits["train"].label_counts == {"0": 3, "1": 3, "2": 3}
    assert manifest.splits["test"].label_counts == {"0": 2, "1": 1, "2": 1}
    assert [(s.path, s.rows) for s in manifest.shards] == [
        ("train/part-00000.parquet", 4),
        ("train/part-00001.parquet", 4),
        ("train/part-00002.parquet", 1),
        ("test/part-00000.parquet", 4),
    ]
    for shard in manifest.shards:
        assert shard.sha256 == hashlib.sha256((out / shard.path).read_bytes()).hexdigest()
    assert manifest.shard_paths(out, "test") == [out / "test" / "part-00000.parquet"]
    assert len(manifest.shard_paths(out)) == 4


def test_write_and_load_round_trip(shards: tuple[Manifest, Path]) -> None:
    manifest, out = shards
    manifest = manifest.model_copy(
        update={
            "lineage": Lineage(
                source=str(out),
                format="idx",
                dataset="tiny",
                files=[SourceFile(path="a.gz", bytes=3, sha256="00" * 32)],
                git_commit="abc123",
            )
        }
    )
    path = manifest.write(out)
    assert path == out / MANIFEST_NAME
    doc = json.loads(path.read_text())
    assert doc["lineage"]["dataqual_version"] == __version__
    assert doc["shards"][0]["path"] == "train/part-00000.parquet"
    assert Manifest.load(out) == manifest  # from the folder
    assert Manifest.load(path) == manifest  # or the file itself
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_verify_reports_tampered_and_missing_shards(shards: tuple[Manifest, Path]) -> None:
    manifest, out = shards
    assert manifest.verify(out) == []
    tampered = out / "train" / "part-00001.parquet"
    data = bytearray(tampered.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    tampered.write_bytes(bytes(data))
    assert manifest.verify(out) == ["train/part-00001.parquet: sha256 differs from the manifest"]
    (out / "test" / "part-00000.parquet").unlink()
    assert manifest.verify(out) == [
        "train/part-00001.parquet: sha256 differs from the manifest",
        "test/part-00000.parquet: missing",
    ]


@pytest.mark.parametrize(
    "text",
    ["{not json", "{}", json.dumps({"height": 28, "width": 28, "splits": {}, "shards": [{}]})],
    ids=["bad-json", "empty-object", "shard-without-fields"],
)
def test_load_rejects_invalid_manifests(tmp_path: Path, text: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(FormatError, match="not a valid dataqual manifest") as info:
        Manifest.load(tmp_path)
    assert info.value.path == str(tmp_path / MANIFEST_NAME)


def test_load_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(FormatError) as info:
        Manifest.load(tmp_path)
    assert info.value.path == str(tmp_path / MANIFEST_NAME)
