"""Recipe "add a repair", followed from outside the package: a plugin registers ``flip_lr``,
a suite sends three sample rows to it, and ``dataqual run`` stores them mirrored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from pipelines.cli import main

from dataqual.ingest import open_source
from dataqual.store.schema import table_images

FLIPPED = ["train/3", "train/10", "test/4"]  # none of them is a planted defect

TOY_SUITE = {
    "name": "toy_flip",
    "meta": {"dataqual": {"version": "1", "stages": ["raw"], "scope": "split"}},
    "expectations": [
        {
            "type": "expect_column_values_to_not_be_in_set",
            "kwargs": {"column": "id", "value_set": FLIPPED},
            "meta": {
                "check": "drawn_mirrored",
                "description": "Toy: these rows were drawn mirrored",
                "severity": "warning",
                "action": "repair",
                "repair": "flip_lr",
            },
        }
    ],
}


def test_a_plugin_repair_runs_end_to_end(sample_dir: Path, tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    shutil.copytree(Path("expectations"), suites)
    (suites / "toy_flip.json").write_text(json.dumps(TOY_SUITE, indent=2))
    out = tmp_path / "out"
    argv = ["--plugin", "tests.recipes.toy_repair", "run", "--source", str(sample_dir)]
    assert main([*argv, "--out", str(out), "--suites", str(suites), "--no-train"]) == 0

    source = open_source(sample_dir)
    raw = {b.split: b for s in source.splits() for b in source.iter_batches(s.name, 5000)}
    for split in ("train", "test"):
        table = pq.read_table(out / "shards" / split)
        stored = dict(zip(table.column("id").to_pylist(), table_images(table, 28, 28), strict=True))
        batch = raw[split]
        for row_id, image in zip(batch.ids.tolist(), batch.images, strict=True):
            if row_id not in stored:  # quarantined
                continue
            if row_id in FLIPPED:
                assert np.array_equal(stored[row_id], image[:, ::-1]), row_id
                assert not np.array_equal(stored[row_id], image), row_id
            elif row_id != "train/101":  # the inverted sample row
                assert np.array_equal(stored[row_id], image), row_id
    run = json.loads((out / "run.json").read_text())
    # the sample's inverted row plus the three mirrored ones
    assert run["counts"]["repaired"] == 1 + len(FLIPPED)
    assert run["counts"]["quarantined"] == 4
