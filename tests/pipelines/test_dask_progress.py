"""Progress lines of a run whose tasks run on a Dask cluster's worker processes: the CLI
prints each stage once, with its seconds, and each training epoch once, before the train
stage's line: the same lines as a run on Prefect's thread runner (where each stage announces
itself in the CLI's process, and must not be printed a second time)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pipelines.cli import main

from dataqual.progress import EpochDone, StageDone, from_payload, to_payload

#: What a ``--no-train`` run on Prefect's thread runner prints, in this order.
STAGES = ["ingest", "profile", "validate-raw", "clean", "store", "validate-cleaned", "report"]
STAGE_LINE = re.compile(r"  (\S+) +(\d+\.\d\d) s")
EPOCH_LINE = re.compile(r"epoch (\d+)/2: loss \d+\.\d{4}, accuracy \d\.\d{4}, [\d,]+ img/s")


@contextmanager
def dask_address(runner: str) -> Iterator[list[str]]:
    """No option for the thread runner; ``--dask-address`` of a real local cluster of one
    worker process for ``dask``."""
    if runner == "threads":
        yield []
        return
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1, processes=True, threads_per_worker=2, dashboard_address=None
    )
    try:
        yield ["--dask-address", cluster.scheduler_address]
    finally:
        cluster.close()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("runner", ["threads", "dask"])
def test_each_stage_is_printed_once_with_its_seconds(
    runner: str, sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with dask_address(runner) as option:
        code = main(["run", "--source", str(sample_dir), "--out", str(out), "--no-train", *option])
    assert code == 0
    found = [
        m for line in capsys.readouterr().out.splitlines() if (m := STAGE_LINE.fullmatch(line))
    ]
    names = [m[1] for m in found]
    assert sorted(names) == sorted(STAGES)  # each stage exactly once
    assert names[0] == "ingest" and names[-1] == "report"
    timings = json.loads((out / "run.json").read_text())["timings"]
    assert set(timings) == set(STAGES)
    for match in found:  # the seconds the stage measured (Prefect's record differs by ms)
        assert float(match[2]) == pytest.approx(timings[match[1]], abs=0.5)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_epochs_on_a_dask_worker_are_printed_once_before_the_train_stage(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    with dask_address("dask") as option:
        code = main(
            ["run", "--source", str(sample_dir), "--out", str(out), "--epochs", "2", *option]
        )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    epochs = [i for i, line in enumerate(lines) if EPOCH_LINE.fullmatch(line)]
    assert [EPOCH_LINE.fullmatch(lines[i])[1] for i in epochs] == ["1", "2"]  # each once
    stages = [m[1] for line in lines if (m := STAGE_LINE.fullmatch(line))]
    assert sorted(stages) == sorted([*STAGES, "train"])  # each stage exactly once
    train = next(
        i for i, line in enumerate(lines) if (m := STAGE_LINE.fullmatch(line)) and m[1] == "train"
    )
    assert epochs[-1] < train


def test_an_event_survives_the_trip_from_a_worker_as_a_plain_dict() -> None:
    epoch = EpochDone(
        epoch=1, epochs=2, loss=0.5, accuracy=0.75, seconds=1.0, images_per_second=9.0
    )
    for event in (StageDone("train", 1.5), epoch):
        payload = {**to_payload(event), "worker": "tcp://127.0.0.1:1"}  # Dask adds its worker
        assert from_payload(payload) == event
    for junk in ({"type": "StageDone", "name": "x"}, {"type": "Other"}, ["StageDone"]):
        with pytest.raises(ValueError, match="not a progress event"):
            from_payload(junk)  # type: ignore[arg-type]
