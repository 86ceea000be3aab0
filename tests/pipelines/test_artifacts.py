"""Prefect artifacts of a real run of the sample, read back from a real Prefect API: the
summary, the checks table, the links to the report and Data Docs, and training progress."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pytest

from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.config import RunConfig
from dataqual.run import RunOutcome, run_pipeline
from dataqual.summary import Counts, RunSummary
from dataqual.validate.report import ValidationReport
from tests.helpers import make_shards


def passed_summary(
    raw: list[CheckResult] | None = None, cleaned: list[CheckResult] | None = None
) -> RunSummary:
    """The summary of a run whose stages gave these results (none: it passed)."""
    return RunSummary.build(
        ValidationReport(stage="raw", results=raw or []),
        ValidationReport(stage="cleaned", results=cleaned or []),
        dataset="tiny",
        source="tiny",
        format="idx",
        counts=Counts(rows=80, kept=80, repaired=0, quarantined=0),
        splits={},
        dataqual_version="0",
    )


@pytest.fixture(scope="module")
def outcome(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    out = tmp_path_factory.mktemp("artifacts") / "out"
    done = run_pipeline(RunConfig(source=sample_dir, out=out, train=False))
    assert done.status == "passed"
    return done


def _artifacts(flow_run_id: Any) -> dict[str, Any]:
    """The artifacts of one flow run, by key."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    only = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=only)
    return {a.key: a for a in found}


def _failing(checks: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["name"], c["split"] or "all") for c in checks if not c["success"]}


@pytest.mark.slow  # a whole run of the sample: ~10 s, mostly raw validation
@pytest.mark.usefixtures("prefect_harness")
def test_run_artifacts_summary_checks_and_links(outcome: RunOutcome) -> None:
    from pipelines.artifacts import publish_run_artifacts
    from prefect import flow
    from prefect.runtime import flow_run

    @flow(name="artifacts-test")
    def publish() -> str:
        publish_run_artifacts(outcome)
        return str(flow_run.id)

    found = _artifacts(publish())
    assert set(found) == {
        "dataqual-run-summary",
        "dataqual-checks",
        "dataqual-report",
        "dataqual-data-docs",
    }
    summary = found["dataqual-run-summary"]
    assert summary.type == "markdown"
    assert "# dataqual run: passed" in summary.data
    assert "Warnings that fired: ink_amount (all)" in summary.data

    validation = json.loads((outcome.run_json.parent / "validation.json").read_text())
    table = found["dataqual-checks"]
    assert table.type == "table"
    rows = json.loads(table.data)
    assert len(rows) == len(validation["checks"]) + len(validation["cleaned"]["checks"])
    assert set(rows[0]) == {
        "stage",
        "check",
        "split",
        "severity",
        "action",
        "result",
        "rows",
        "judged",
        "blocks run",
    }
    for stage, checks in (
        ("raw", validation["checks"]),
        ("cleaned", validation["cleaned"]["checks"]),
    ):
        failed = {
            (r["check"], r["split"])
            for r in rows
            if r["stage"] == stage and r["result"] == "failed"
        }
        assert failed == _failing(checks)
    assert _failing(validation["checks"]), "the sample has planted defects"
    assert not any(r["blocks run"] for r in rows)  # the run passed
    first = [r["result"] for r in rows].index("passed")
    assert {r["result"] for r in rows[:first]} <= {"failed", "skipped"}  # failures first
    blank = next(r for r in rows if r["check"] == "blank_image" and r["stage"] == "raw")
    assert blank == {
        "stage": "raw",
        "check": "blank_image",
        "split": "all",
        "severity": "error",
        "action": "quarantine",
        "result": "failed",
        "rows": 1,
        "judged": 1200,
        "blocks run": False,
    }

    report, docs = found["dataqual-report"], found["dataqual-data-docs"]
    for artifact, name in ((report, "report.html"), (docs, "index.html")):
        assert artifact.type == "markdown"  # Prefect stores a link as "[text](url)"
        text, url = artifact.data.removeprefix("[").removesuffix(")").split("](")
        assert url.startswith("file://") and text.endswith("of sample-digits")
        path = Path(unquote(urlparse(url).path))
        assert path.name == name and path.is_file()
        assert path.parent in (outcome.run_json.parent, outcome.run_json.parent / "data_docs")
    assert "HTML report of sample-digits" in report.data
    assert "GX Data Docs" in docs.data


@pytest.mark.slow  # imports TensorFlow and trains 2 tiny epochs: ~10 s
@pytest.mark.usefixtures("prefect_harness")
def test_training_progress_reaches_100(tmp_path: Path) -> None:
    from pipelines.artifacts import train_with_progress
    from prefect import flow, task
    from prefect.runtime import flow_run

    from dataqual.train.trainer import TrainConfig
    from dataqual.workspace import Workspace

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 8, 8), dtype=np.uint8)
    labels = (np.arange(64) % 2).astype(np.uint8)
    staging = tmp_path / "staging"
    make_shards(staging / "shards", images, labels, images[:16], labels[:16])
    workspace = Workspace(
        out=tmp_path / "out", staging=staging, started="", overwrite=False, inputs=()
    )
    config = TrainConfig(epochs=2, batch_size=32, input_pipeline="numpy")
    train = task(train_with_progress, name="train")

    @flow(name="artifacts-train-test")
    def training() -> tuple[str, str]:
        return str(flow_run.id), train(workspace, config, passed_summary()).training

    run_id, training_state = training()
    assert training_state == "done"
    assert (staging / "model" / "metrics.json").is_file()
    progress = _artifacts(run_id)["dataqual-training-progress"]
    assert progress.type == "progress"
    assert float(progress.data) == 100.0
    assert progress.task_run_id is not None
    assert "epoch 2/2" in progress.description


@pytest.mark.filterwarnings("ignore:Artifact creation outside:FutureWarning")
def test_publishing_without_a_server_never_raises(tmp_path: Path) -> None:
    from pipelines.artifacts import publish_run_artifacts, training_progress
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from dataqual.progress import EpochDone, emit

    summary = passed_summary().model_copy(update={"artefacts": {"report": "report.html"}})
    unreachable = {PREFECT_API_URL: "http://127.0.0.1:9/api", PREFECT_CLIENT_MAX_RETRIES: 0}
    with temporary_settings(unreachable):
        publish_run_artifacts(RunOutcome(summary, tmp_path / "run.json"))
        with training_progress() as artifact:
            emit(EpochDone(1, 1, 0.5, 0.5, 0.1, 10.0))
    assert artifact is None


def test_failed_run_puts_blocking_checks_first(tmp_path: Path) -> None:
    from pipelines.artifacts import check_rows, summary_markdown

    def result(name: str, severity: Severity, action: Action, ok: bool, **more: Any) -> CheckResult:
        return CheckResult(name, name, severity, action, ok, element_count=80, **more)

    err, warn = Severity.ERROR, Severity.WARNING
    raw = [
        result("ids_unique", err, Action.NONE, True),
        result("ink_amount", warn, Action.FLAG, False, ids=np.array(["train/1"])),
        result("blank_image", err, Action.QUARANTINE, False, ids=np.array(["train/2"])),
        result("row_count", err, Action.NONE, False, split="train"),
        result("drift_labels", warn, Action.NONE, True, skipped="no reference profile given"),
    ]
    summary = passed_summary(raw, [result("ids_unique", err, Action.NONE, True)])
    assert summary.failures == ["row_count (train)"]
    rows = check_rows(summary)
    order = [(r["stage"], r["check"], r["result"], r["blocks run"]) for r in rows]
    assert order == [
        ("raw", "row_count", "failed", True),
        ("raw", "blank_image", "failed", False),  # cleaning removes the row
        ("raw", "ink_amount", "failed", False),
        ("raw", "drift_labels", "skipped", False),
        ("raw", "ids_unique", "passed", False),
        ("cleaned", "ids_unique", "passed", False),
    ]
    assert rows[1]["rows"] == 1 and rows[0]["split"] == "train" and rows[1]["split"] == "all"
    text = summary_markdown(RunOutcome(summary, tmp_path / "run.json"))
    assert "# dataqual run: failed_validation" in text
    assert "Failed checks: row_count (train)" in text
    assert "Warnings that fired: ink_amount (all)" in text
