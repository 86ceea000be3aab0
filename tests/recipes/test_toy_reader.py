"""Recipe "add a reader", followed from outside the package: a plugin registers format
``toy`` (:mod:`tests.recipes.toy_reader`), detection finds it by the ``.toy`` name, and
``dataqual run`` stores its records in the shards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from pipelines.cli import main

from dataqual.errors import FormatError
from dataqual.ingest import open_source
from dataqual.store.schema import table_images


def _write_toy(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    flat = images.reshape(len(images), -1)
    path.write_text(
        "".join(f"{y},{x.tobytes().hex()}\n" for x, y in zip(flat, labels, strict=True))
    )
    return path


@pytest.fixture
def sample(sample_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The sample's first 600 train records: real digits, labels 0..9."""
    batch = next(open_source(sample_dir).iter_batches("train", 600))
    return batch.images, batch.labels


def test_a_plugin_reader_runs_end_to_end(
    sample: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, labels = sample
    toy = _write_toy(tmp_path / "digits.toy", images, labels)
    out = tmp_path / "out"
    argv = ["--plugin", "tests.recipes.toy_reader", "run", "--source", str(toy)]
    assert main([*argv, "--out", str(out), "--no-train"]) in (0, 1)

    run = json.loads((out / "run.json").read_text())
    table = pq.read_table(out / "shards" / "train")
    stored = dict(zip(table.column("id").to_pylist(), table_images(table, 28, 28), strict=True))
    quarantined = pq.read_table(out / "quarantine.parquet").column("id").to_pylist()
    assert len(stored) + len(set(quarantined)) == len(images)
    assert run["counts"]["quarantined"] == len(set(quarantined))
    assert len(stored) > 500  # the sample's train head holds only a few planted defects
    kept = [
        (stored[f"train/{i}"], image) for i, image in enumerate(images) if f"train/{i}" in stored
    ]
    changed = sum(not np.array_equal(got, image) for got, image in kept)
    assert changed == run["counts"]["repaired"]  # every other row is stored as read


def test_the_plugin_reader_streams_and_names_a_bad_record(tmp_path: Path) -> None:
    """Detection picks ``toy`` before the CSV sniffer; a bad line is a FormatError naming
    the file and the record, raised mid-stream after the good chunks went out."""
    import tests.recipes.toy_reader  # noqa: F401  (registers the format)

    images = np.arange(10 * 16, dtype=np.uint8).reshape(10, 4, 4)
    toy = _write_toy(tmp_path / "small.toy", images, np.arange(10))
    source = open_source(toy)
    assert source.origin is not None and source.origin.format == "toy"
    got = list(source.iter_batches("train", 4))
    assert [len(b) for b in got] == [4, 4, 2]
    assert np.array_equal(np.concatenate([b.images for b in got]), images)
    assert np.array_equal(source.labels("train"), np.arange(10))

    lines = toy.read_text().splitlines()
    lines[7] = lines[7][:-2]  # one pixel short
    toy.write_text("\n".join(lines) + "\n")
    read = 0
    with pytest.raises(FormatError) as info:
        for batch in open_source(toy).iter_batches("train", 4):
            read += len(batch)
    assert read == 4 and info.value.record == 7 and info.value.path == str(toy)
