"""The pipeline's stages chained without Prefect, on the embedded sample and on broken input."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from dataqual.config import RunConfig
from dataqual.errors import OutputError, SourceError, TruncatedError
from dataqual.ingest import open_source
from dataqual.run import ARTEFACTS, run_pipeline
from dataqual.store.manifest import Manifest
from dataqual.store.schema import table_images
from tests.helpers import rendezvous_store_and_validation

PLANTED_REMOVED = {
    "train/100": "blank_image",
    "train/102": "exact_duplicate",
    "train/103": "label_in_classes",
    "train/105": "leakage",
}


@pytest.fixture(scope="module")
def sample_run(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    outcome = run_pipeline(RunConfig(source=sample_dir, out=out, train=False))
    assert outcome.exit_code == 0
    return out


def test_run_json_names_every_artefact(sample_run: Path) -> None:
    run = json.loads((sample_run / "run.json").read_text())
    assert run["status"] == "passed"
    assert run["training"] == "skipped"
    assert run["metrics"] is None
    for key in (
        "manifest",
        "validation",
        "quarantine",
        "findings",
        "report",
        "data_docs",
        "profile",
    ):
        assert run[key] == ARTEFACTS[key]
        assert (sample_run / run[key]).is_file(), key


def test_planted_defects_are_removed_with_reasons(sample_run: Path) -> None:
    q = pq.read_table(sample_run / "quarantine.parquet")
    reasons = dict(zip(q.column("id").to_pylist(), q.column("reasons").to_pylist(), strict=True))
    assert set(reasons) == set(PLANTED_REMOVED)
    for row_id, check in PLANTED_REMOVED.items():
        assert check in reasons[row_id]
    # The quarantined images are the source images, untouched.
    source = open_source(Path(__file__).resolve().parents[1] / "data" / "sample")
    train = next(source.iter_batches("train", 2000))
    images = table_images(q, 28, 28)
    for i, row_id in enumerate(q.column("id").to_pylist()):
        assert np.array_equal(images[i], train.images[int(row_id.split("/")[1])])


def test_inverted_image_is_repaired_in_the_shards(sample_run: Path, sample_dir: Path) -> None:
    source = open_source(sample_dir)
    raw = next(source.iter_batches("train", 2000)).images[101]
    table = pq.read_table(sample_run / "shards" / "train")
    ids = table.column("id").to_pylist()
    stored = table_images(table, 28, 28)[ids.index("train/101")]
    assert np.array_equal(stored, 255 - raw)
    validation = json.loads((sample_run / "validation.json").read_text())
    assert validation["counts"] == {"rows": 1200, "kept": 1196, "repaired": 1, "quarantined": 4}
    assert validation["success"] is True
    assert validation["cleaned"]["success"] is True


def test_findings_table_explains_every_removed_row(sample_run: Path) -> None:
    findings = pd.read_parquet(sample_run / "findings.parquet")
    raw = findings[findings["stage"] == "raw"]
    for row_id, check in PLANTED_REMOVED.items():
        rows = raw[(raw["id"] == row_id) & (raw["check"] == check)]
        assert len(rows) == 1
        assert rows.iloc[0]["action_taken"] in {"quarantine", "drop"}
    assert set(raw.loc[raw["check"] == "inverted_image", "id"]) == {"train/101"}
    assert (findings.loc[findings["stage"] == "cleaned", "severity"] != "error").all()


def test_manifest_counts_and_checksums(sample_run: Path) -> None:
    manifest = Manifest.load(sample_run / "shards")
    assert manifest.verify(sample_run / "shards") == []
    assert manifest.splits["train"].rows == 996 and manifest.splits["test"].rows == 200
    assert sum(manifest.splits["test"].label_counts.values()) == 200
    assert {f.path.split("/")[-1] for f in manifest.lineage.files} >= {"train-images-idx3-ubyte.gz"}
    assert {s.name for s in manifest.lineage.suites} >= {"accuracy", "completeness", "duplicates"}


def test_missing_class_fails_validation_and_training_is_refused(
    tmp_path: Path, sample_dir: Path
) -> None:
    from tests.helpers import make_idx_dataset

    source = open_source(sample_dir)
    train = next(source.iter_batches("train", 2000))
    test = next(source.iter_batches("test", 2000))
    keep = train.labels != 3
    make_idx_dataset(
        tmp_path / "src", train.images[keep], train.labels[keep], test.images, test.labels
    )
    outcome = run_pipeline(RunConfig(source=tmp_path / "src", out=tmp_path / "out", train=True))
    assert outcome.status == "failed_validation"
    assert outcome.exit_code == 1
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["training"] == "refused" and run["metrics"] is None
    validation = json.loads((tmp_path / "out" / "validation.json").read_text())
    failing = {(c["name"], c["split"]) for c in validation["cleaned"]["checks"] if not c["success"]}
    assert ("classes_present", "train") in failing


def test_corrupt_idx_raises_and_leaves_nothing(tmp_path: Path, sample_dir: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(sample_dir, src)
    data = gzip.decompress((src / "train-images-idx3-ubyte.gz").read_bytes())
    (src / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(data[: len(data) // 2]))
    out = tmp_path / "out"
    with pytest.raises(TruncatedError) as info:
        run_pipeline(RunConfig(source=src, out=out, train=False))
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_refuses_to_overwrite_a_previous_run(sample_run: Path, sample_dir: Path) -> None:
    with pytest.raises(OutputError, match="--overwrite"):
        run_pipeline(RunConfig(source=sample_dir, out=sample_run, train=False))


def test_missing_source_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        run_pipeline(RunConfig(source=tmp_path / "nope", out=tmp_path / "out", train=False))
    assert not (tmp_path / "out").exists()


def test_action_taken_is_the_removal_for_removed_rows_only() -> None:
    from dataqual.outputs import findings_with_actions as _with_actions

    findings = pd.DataFrame(
        {
            "id": ["train/1", "train/1", "train/2", "train/3"],
            "split": ["train"] * 4,
            "check": ["exact_duplicate", "ink_amount", "ink_amount", "inverted_image"],
            "severity": ["error", "warning", "warning", "error"],
            "action": ["drop", "flag", "flag", "repair"],
            "detail": [""] * 4,
            "stage": ["raw"] * 4,
        }
    ).astype("string")
    assert _with_actions(findings)["action_taken"].tolist() == ["drop", "drop", "flag", "repair"]
    only_flags = findings.iloc[2:].reset_index(drop=True)  # nothing removed at all
    assert _with_actions(only_flags)["action_taken"].tolist() == ["flag", "repair"]


def test_a_run_measures_drift_against_an_earlier_runs_profile(
    sample_run: Path, sample_dir: Path, tmp_path: Path
) -> None:
    outcome = run_pipeline(
        RunConfig(
            source=sample_dir,
            out=tmp_path / "again",
            train=False,
            reference=sample_run / "profile.parquet",
        )
    )
    assert outcome.exit_code == 0
    checks = json.loads((tmp_path / "again" / "validation.json").read_text())["checks"]
    drift = [c for c in checks if c["name"].startswith("drift_")]
    names = {c["name"] for c in drift}
    assert {"drift_labels", "drift_intensity", "drift_mean_image"} <= names
    assert all(c["skipped"] is None and c["success"] for c in drift)  # the same data
    assert json.loads((tmp_path / "again" / "validation.json").read_text())["drift"] == drift


def test_shards_are_written_while_the_cleaned_data_is_validated(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = rendezvous_store_and_validation(monkeypatch)
    out = tmp_path / "out"
    outcome = run_pipeline(RunConfig(source=sample_dir, out=out, train=False))
    assert outcome.exit_code == 0 and events == ["stored"]
    manifest = Manifest.load(out / ARTEFACTS["manifest"])
    assert manifest.verify(out / "shards") == []
    assert sum(s.rows for s in manifest.splits.values()) == 1196


def test_a_failure_beside_the_store_pass_waits_for_it_and_leaves_nothing(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = rendezvous_store_and_validation(monkeypatch, fail_validation=True)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="while the shards were being written"):
        run_pipeline(RunConfig(source=sample_dir, out=out, train=False))
    assert events == ["stored"]  # the store pass had finished before the staging was removed
    assert list(tmp_path.iterdir()) == []
