"""The dataset registry: well-formed entries, real checksums, recognition by sha256."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from dataqual.errors import ConfigError
from dataqual.ingest import registry
from dataqual.ingest.registry import (
    DATASETS,
    DatasetInfo,
    file_role,
    get_dataset,
    identify_files,
    register_dataset,
    sha256_file,
)

SHARED = Path("/work/shared/datasets")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared datasets not available")


def test_known_datasets_are_complete() -> None:
    assert {"mnist", "fashion-mnist", "kmnist"} <= set(DATASETS)
    for info in DATASETS.values():
        assert info.image_shape == (28, 28) and info.num_classes == 10
        assert info.split_rows == {"train": 60_000, "test": 10_000}
        assert {f.role for f in info.files} == {
            (s, k) for s in ("train", "test") for k in ("images", "labels")
        }
        for f in info.files:
            assert f.urls and all(u.startswith(("http://", "https://")) for u in f.urls)
            assert all(u.endswith("/" + f.name) for u in f.urls)
            assert f.raw_size in (16 + 60_000 * 784, 8 + 60_000, 16 + 10_000 * 784, 8 + 10_000)
        for split, counts in info.label_counts.items():
            assert sum(counts) == info.split_rows[split]
    assert get_dataset("mnist").label_counts["train"][1] == 6742
    assert get_dataset("mnist").label_counts["test"][5] == 892
    assert get_dataset("kmnist").label_counts == {"train": (6000,) * 10, "test": (1000,) * 10}


def test_get_dataset() -> None:
    assert get_dataset(" Fashion-MNIST ").name == "fashion-mnist"
    with pytest.raises(ConfigError, match="known datasets: fashion-mnist, kmnist, mnist"):
        get_dataset("emnist")
    with pytest.raises(ConfigError, match="has no file"):
        get_dataset("mnist").file("nope.gz")


def test_inconsistent_info_is_rejected() -> None:
    data = get_dataset("mnist").model_dump()
    data["label_counts"]["test"] = (1000,) * 10  # sums to 10000, fine
    DatasetInfo(**data)
    data["label_counts"]["test"] = (999,) * 10
    with pytest.raises(ValidationError, match="sum to 9990"):
        DatasetInfo(**data)
    data = get_dataset("mnist").model_dump()
    data["files"][0]["sha256"] = "not-a-hash"
    with pytest.raises(ValidationError):
        DatasetInfo(**data)


def test_register_dataset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    mine = get_dataset("mnist").model_copy(update={"name": "my-mnist"})
    assert register_dataset(mine) is mine
    assert get_dataset("my-mnist") is mine
    other = mine.model_copy(update={"description": "changed"})
    with pytest.raises(ConfigError, match="already registered"):
        register_dataset(other)
    register_dataset(other, replace=True)
    assert get_dataset("my-mnist").description == "changed"


def test_file_role() -> None:
    assert file_role("t10k-images-idx3-ubyte.gz") == ("test", "images")
    assert file_role("train-labels.idx1-ubyte") == ("train", "labels")
    assert file_role("emnist-digits-train-images-idx3-ubyte.gz") == ("train", "images")
    assert file_role("readme.txt") is None


@needs_shared
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_pinned_checksums_match_the_shared_official_files(name: str) -> None:
    info = get_dataset(name)
    for f in info.files:
        path = SHARED / name / f.name
        assert path.stat().st_size == f.size
        assert sha256_file(path) == f.sha256


@needs_shared
def test_identify_shared_folders_and_files() -> None:
    assert identify_files([SHARED / "mnist"]) is get_dataset("mnist")
    assert identify_files(str(SHARED / "fashion-mnist")) is get_dataset("fashion-mnist")
    assert identify_files(sorted((SHARED / "mnist").glob("t10k-*"))) is get_dataset("mnist")


@needs_shared
def test_identify_uncompressed_copies(tmp_path: Path) -> None:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        with gzip.open(SHARED / "mnist" / name) as fin:
            (tmp_path / name.removesuffix(".gz")).write_bytes(fin.read())
    assert identify_files([tmp_path]) is get_dataset("mnist")


@needs_shared
def test_identify_rejects_mixed_swapped_and_modified_files(tmp_path: Path) -> None:
    labels = "train-labels-idx1-ubyte.gz"
    mixed = [SHARED / "mnist" / labels, SHARED / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"]
    assert identify_files(mixed) is None

    swapped = tmp_path / "swapped"
    swapped.mkdir()
    shutil.copy(SHARED / "mnist" / "t10k-labels-idx1-ubyte.gz", swapped / labels)
    assert identify_files([swapped]) is None

    modified = tmp_path / "modified"
    modified.mkdir()
    data = bytearray((SHARED / "mnist" / labels).read_bytes())
    data[-10] ^= 0xFF
    (modified / labels).write_bytes(bytes(data))
    assert identify_files([modified]) is None


def test_identify_unknown_sizes_without_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_hash(path: Path) -> str:
        raise AssertionError(f"{path} should be rejected by its size alone")

    monkeypatch.setattr(registry, "sha256_file", no_hash)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"x" * 123)
    assert identify_files([tmp_path]) is None
    assert identify_files([tmp_path / "empty"]) is None
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    assert identify_files([tmp_path]) is None
