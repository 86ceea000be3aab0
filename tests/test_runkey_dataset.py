"""The run key of a ``--dataset NAME`` run: stable across runs and output folders, changed
by a new version of the dataset's files, and unchanged by a corrupted cache file (which the
fetch heals from the mirror before the key is taken)."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from dataqual.config import RunConfig
from dataqual.ingest import registry
from dataqual.ingest.dataset_info import DatasetFile, DatasetInfo
from dataqual.runkey import run_key, source_files

NAME = "tiny-digits"
ROWS = {"train": 20, "t10k": 10}


def _idx_files(folder: Path, seed: int) -> dict[str, bytes]:
    """A tiny IDX dataset (28x28, digits) as its four ``.gz`` files, written to ``folder``."""
    rng = np.random.default_rng(seed)
    files: dict[str, bytes] = {}
    for prefix, rows in ROWS.items():
        images = rng.integers(0, 256, size=(rows, 28, 28), dtype=np.uint8)
        labels = np.arange(rows, dtype=np.uint8) % 10
        files[f"{prefix}-images-idx3-ubyte.gz"] = struct.pack(">IIII", 0x803, rows, 28, 28)
        files[f"{prefix}-images-idx3-ubyte.gz"] += images.tobytes()
        files[f"{prefix}-labels-idx1-ubyte.gz"] = struct.pack(">II", 0x801, rows)
        files[f"{prefix}-labels-idx1-ubyte.gz"] += labels.tobytes()
    folder.mkdir(parents=True)
    packed = {name: gzip.compress(raw, mtime=0) for name, raw in files.items()}
    for name, data in packed.items():
        (folder / name).write_bytes(data)
    return packed


def _register(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes]) -> None:
    """Register ``NAME`` pinned to ``files`` (for this test only)."""
    info = DatasetInfo(
        name=NAME,
        description="tiny test digits",
        license="CC0",
        homepage="https://example.invalid/",
        files=tuple(
            DatasetFile(
                name=name,
                urls=(f"https://example.invalid/{name}",),
                sha256=hashlib.sha256(data).hexdigest(),
                size=len(data),
            )
            for name, data in files.items()
        ),
        class_names=tuple(str(d) for d in range(10)),
        image_shape=(28, 28),
        split_rows={"train": ROWS["train"], "test": ROWS["t10k"]},
    )
    monkeypatch.setitem(registry._REGISTRY, NAME, info)


def _key(config: RunConfig) -> str:
    return run_key(config, source_files(config))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAQUAL_OFFLINE", "1")  # the mirror only, never the network


def test_dataset_run_key_is_stable_and_follows_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    _register(monkeypatch, _idx_files(mirror / NAME, seed=1))
    config = RunConfig(dataset=NAME, mirror=mirror, cache_dir=cache, out=tmp_path / "a")
    first = _key(config)
    files = source_files(config)
    assert sorted(p.name for p in files) == sorted(p.name for p in (mirror / NAME).iterdir())
    assert all(p.parent == cache / NAME for p in files)  # read from the verified cache
    # the same dataset again, into another folder: the same key
    assert _key(config) == first
    assert _key(config.model_copy(update={"out": tmp_path / "b", "overwrite": True})) == first

    # a corrupted cache file is set aside and fetched again from the mirror: same data
    cached = cache / NAME / "train-images-idx3-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:-8] + b"corrupt!")
    assert _key(config) == first

    # a new version of the dataset in the same mirror (new files, new pinned checksums):
    # the stale cache files are replaced, and the key changes with them
    shutil.rmtree(mirror / NAME)
    _register(monkeypatch, _idx_files(mirror / NAME, seed=2))
    changed = _key(config)
    assert changed != first
    assert _key(config) == changed


def test_dataset_run_key_covers_the_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror, cache = tmp_path / "mirror", tmp_path / "cache"
    _register(monkeypatch, _idx_files(mirror / NAME, seed=1))
    config = RunConfig(dataset=NAME, mirror=mirror, cache_dir=cache, out=tmp_path / "a")
    key = _key(config)
    assert _key(config.model_copy(update={"train": False})) != key
    assert _key(config.model_copy(update={"notify": ["http://127.0.0.1:9/x"]})) == key
