"""A run never says "passed" when the data is gone: every split that was read or declared is
judged after cleaning, empty inputs fail, and labels unrelated to their images fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from dataqual.config import RunConfig
from dataqual.ingest import open_source
from dataqual.ingest.split import concat_batches
from dataqual.run import RunOutcome, run_pipeline
from tests.ingest import writers as w


@pytest.fixture(scope="module")
def sample(sample_dir: Path) -> w.Data:
    """The embedded sample as arrays, split -> (images, labels)."""
    source = open_source(sample_dir)
    out = {}
    for info in source.splits():
        batch = concat_batches(list(source.iter_batches(info.name)))
        out[info.name] = (batch.images, batch.labels.clip(0, 255).astype(np.uint8))
    return out


def run(source: Path, tmp_path: Path) -> RunOutcome:
    return run_pipeline(RunConfig(source=source, out=tmp_path / "out", train=False))


def checks(outcome: RunOutcome) -> dict[tuple[str, str | None, str], dict]:
    """(stage, split, check) -> the check's summary, from validation.json."""
    v = json.loads((outcome.run_json.parent / "validation.json").read_text())
    found = {("raw", c["split"], c["name"]): c for c in v["checks"]}
    found |= {("cleaned", c["split"], c["name"]): c for c in v["cleaned"]["checks"]}
    return found


def test_float_images_in_unit_range_are_scaled_not_quarantined(
    sample: w.Data, tmp_path: Path
) -> None:
    data = {s: (x / 255.0, y) for s, (x, y) in sample.items()}
    outcome = run(w.write_npz(tmp_path / "floats.npz", data), tmp_path)
    assert outcome.exit_code == 0, outcome.failures
    counts = outcome.summary.counts.model_dump()
    assert counts["quarantined"] < 10 and counts["kept"] > 1150
    scale = checks(outcome)[("raw", None, "pixel_scale")]
    assert not scale["success"] and scale["action"] == "repair"
    assert scale["unexpected_count"] >= 1190  # every non-blank image was rescaled
    assert checks(outcome)[("raw", None, "pixel_values_integral")]["success"]


def test_a_split_that_cleaning_empties_fails(tmp_path: Path) -> None:
    blank = np.zeros((40, 28, 28), np.uint8)
    src = w.write_npz(tmp_path / "blank.npz", {"train": (blank, np.arange(40) % 10)})
    outcome = run(src, tmp_path)
    assert outcome.exit_code == 1
    assert outcome.summary.counts.kept == 0
    assert "split_not_empty (train)" in outcome.failures
    assert not checks(outcome)[("cleaned", "train", "split_not_empty")]["success"]


@pytest.mark.parametrize("kind", ["idx", "csv", "npz"])
def test_an_empty_input_fails(kind: str, tmp_path: Path) -> None:
    empty = {"train": (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))}
    if kind == "idx":
        src = w.write_idx(tmp_path / "idx", empty)
    elif kind == "csv":
        src = tmp_path / "only_header.csv"
        src.write_text("label," + ",".join(f"pixel{i}" for i in range(784)) + "\n")
    else:
        src = w.write_npz(tmp_path / "empty.npz", empty)
    outcome = run(src, tmp_path)
    assert outcome.exit_code == 1 and outcome.status == "failed_validation"
    assert outcome.summary.counts.rows == 0
    assert "split_not_empty (train)" in outcome.failures


def test_a_declared_split_that_is_missing_fails(sample: w.Data, tmp_path: Path) -> None:
    src = w.write_idx(tmp_path / "idx", {"train": sample["train"]})
    spec = {"expected_rows": {"train": 1000, "test": 200}}
    (src / "dataqual.json").write_text(json.dumps(spec))
    outcome = run(src, tmp_path)
    assert outcome.exit_code == 1
    assert "split_not_empty (test)" in outcome.failures
    assert "row_count (test)" in outcome.failures
    assert checks(outcome)[("raw", "test", "row_count")]["observed"]["observed_value"] == 0


def test_train_folders_that_link_to_test_fail(sample: w.Data, tmp_path: Path) -> None:
    """All train rows are copies of test rows (leakage) and are dropped: not a pass."""
    x, y = sample["test"][0][:60], np.arange(60) % 10
    root = w.write_images(tmp_path / "png", {"test": (x, y)})
    (root / "train").mkdir()
    for label in sorted(p.name for p in (root / "test").iterdir()):
        (root / "train" / label).symlink_to(Path("..") / "test" / label)
    outcome = run(root, tmp_path)
    assert outcome.exit_code == 1
    assert outcome.summary.counts.quarantined == 60
    assert "split_not_empty (train)" in outcome.failures


def test_labels_unrelated_to_the_images_fail(sample: w.Data, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    shuffled = {s: (x, rng.permutation(y)) for s, (x, y) in sample.items()}
    outcome = run(w.write_idx(tmp_path / "idx", shuffled), tmp_path)
    assert outcome.exit_code == 1
    assert "label_accuracy (all)" in outcome.failures
    accuracy = checks(outcome)[("raw", None, "label_accuracy")]
    assert accuracy["observed"]["oof_accuracy"] < 0.3
    assert accuracy["observed"]["min_oof_accuracy"] == 0.5


def test_the_sample_still_passes_its_label_check(sample_dir: Path, tmp_path: Path) -> None:
    outcome = run(Path(shutil.copytree(sample_dir, tmp_path / "s")), tmp_path)
    assert outcome.exit_code == 0
    assert checks(outcome)[("raw", None, "label_accuracy")]["observed"]["oof_accuracy"] > 0.9


def test_rows_repaired_by_the_reader_pass_after_cleaning(sample: w.Data, tmp_path: Path) -> None:
    """A clipped CSV cell and an RGB PNG are repaired, so the cleaned data passes: the
    cleaned profile describes the stored pixels, not the source's."""
    x, y = sample["train"]
    flat = x.reshape(len(x), -1).astype(np.int64)
    flat[10, 300] = 300  # clipped to 255
    src = tmp_path / "data.csv"
    rows = [f"{int(label)}," + ",".join(map(str, r)) for label, r in zip(y, flat, strict=True)]
    src.write_text("\n".join(rows) + "\n")
    outcome = run(src, tmp_path)
    assert outcome.exit_code == 0, outcome.failures
    found = checks(outcome)
    assert not found[("raw", None, "pixel_max_in_range")]["success"]
    assert found[("cleaned", None, "pixel_max_in_range")]["success"]
    assert found[("cleaned", None, "pixel_values_integral")]["success"]


def test_converted_images_pass_after_cleaning(sample: w.Data, tmp_path: Path) -> None:
    x, y = sample["test"]
    root = w.write_images(
        tmp_path / "png", {"train": (x[:100], y[:100]), "test": (x[100:], y[100:])}
    )
    first = sorted((root / "train").rglob("*.png"))[0]
    first.write_bytes(w.png_bytes(x[0], mode="RGB"))
    outcome = run(root, tmp_path)
    found = checks(outcome)
    assert not found[("raw", None, "image_mode")]["success"]
    assert found[("cleaned", None, "image_mode")]["success"]
    assert "image_mode (all)" not in outcome.failures
