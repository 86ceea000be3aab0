"""A real Prefect flow run of the whole pipeline on the embedded sample (1 epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataqual.config import RunConfig
from dataqual.train.trainer import TrainConfig
from tests.helpers import rendezvous_store_and_validation


@pytest.mark.usefixtures("prefect_harness")
def test_run_flow_on_sample_trains_one_epoch(sample_dir: Path, tmp_path: Path) -> None:
    from pipelines.flows import run_flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    out = tmp_path / "out"
    config = RunConfig(source=sample_dir, out=out, training=TrainConfig(epochs=1))
    outcome = run_flow(config)
    assert outcome.status == "passed" and outcome.exit_code == 0
    run = json.loads((out / "run.json").read_text())
    assert run["training"] == "done"
    metrics = json.loads((out / run["metrics"]).read_text())
    assert metrics["epochs"] == 1
    assert metrics["train_rows"] == 996 and metrics["test_rows"] == 200
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert set(metrics["per_class_accuracy"]) == {str(c) for c in range(10)}
    assert (out / run["model"]).is_file()
    stages = {"ingest", "profile", "validate-raw", "clean", "store", "validate-cleaned"}
    assert set(run["timings"]) == stages | {"report", "train"}
    assert all(seconds > 0 for seconds in run["timings"].values())

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        assert any(r.name and r.state and r.state.is_completed() for r in runs)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["dataqual-run-summary"]))
        )
    mine = [a for a in artifacts if str(out) in a.data]  # other tests' runs share the server
    assert mine, "the flow publishes a markdown summary artifact"
    assert "passed" in mine[0].data and "report.html" in mine[0].data


@pytest.mark.usefixtures("prefect_harness")
def test_train_flow_refuses_failed_run_unless_forced(sample_dir: Path, tmp_path: Path) -> None:
    from pipelines.flows import run_flow, train_flow

    from dataqual.errors import ValidationFailed

    out = tmp_path / "out"
    run_flow(RunConfig(source=sample_dir, out=out, train=False))
    run = json.loads((out / "run.json").read_text())
    run["status"] = "failed_validation"  # as if validation had failed
    (out / "run.json").write_text(json.dumps(run))
    with pytest.raises(ValidationFailed):
        train_flow(out, TrainConfig(epochs=1))
    assert json.loads((out / "run.json").read_text())["training"] == "skipped"  # refused
    metrics = train_flow(out, TrainConfig(epochs=1, force=True))
    assert metrics["forced"] is True
    run = json.loads((out / "run.json").read_text())
    assert run["training"] == "forced" and (out / run["metrics"]).is_file()
    assert (out / run["model"]).is_file()


@pytest.mark.usefixtures("prefect_harness")
def test_stage_tasks_retry_transient_errors_but_not_bad_input() -> None:
    from pipelines.flows import as_task
    from prefect import flow

    from dataqual.errors import SourceError

    calls: list[str] = []

    def flaky() -> str:
        calls.append("flaky")
        if len(calls) == 1:
            raise OSError("connection reset by peer")
        return "ok"

    def broken() -> str:
        calls.append("broken")
        raise SourceError("train-images-idx3-ubyte.gz", "bad IDX magic number")

    @flow
    def transient() -> str:
        return as_task("ingest", flaky)()

    @flow
    def permanent() -> str:
        return as_task("ingest", broken)()

    assert transient() == "ok"
    assert calls == ["flaky", "flaky"]
    calls.clear()
    with pytest.raises(SourceError, match="bad IDX magic number"):
        permanent()
    assert calls == ["broken"]


@pytest.mark.usefixtures("prefect_harness")
def test_flow_writes_shards_while_validating_cleaned_data(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store task is submitted to the flow's task runner and overlaps the cleaned-stage
    validation task (each waits for the other to start, so a serial flow cannot pass)."""
    from pipelines.flows import run_flow
    from prefect.client.orchestration import get_client

    events = rendezvous_store_and_validation(monkeypatch)
    outcome = run_flow(RunConfig(source=sample_dir, out=tmp_path / "out", train=False))
    assert outcome.exit_code == 0 and events == ["stored"]
    with get_client(sync_client=True) as client:
        tasks = {t.name.rsplit("-", 1)[0]: t for t in client.read_task_runs()}
    for name in ("ingest", "profile", "validate-raw", "clean", "store", "validate-cleaned"):
        assert tasks[name].state is not None and tasks[name].state.is_completed(), name


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_that_fails_validation_ends_failed_with_its_checks_named(
    sample_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from pipelines.flows import outcome_of, run_flow

    source = tmp_path / "src"
    shutil.copytree(sample_dir, source)
    spec = json.loads((source / "dataqual.json").read_text())
    spec["expected_rows"] = {**spec.get("expected_rows", {}), "test": 999}
    (source / "dataqual.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    state = run_flow(RunConfig(source=source, out=out, train=False), return_state=True)
    assert state.is_failed()
    assert state.message.startswith("failed validation: ") and "row_count (test)" in state.message
    outcome = outcome_of(state)
    assert outcome.exit_code == 1 and "row_count (test)" in outcome.failures
    assert json.loads((out / "run.json").read_text())["status"] == "failed_validation"
    assert (out / "report.html").is_file()  # the artefacts are still written
