"""Stage lines of a run whose tasks run on a Dask cluster's worker processes: the CLI prints
each stage once, with its seconds, the same lines as a run on Prefect's thread runner (where
each stage announces itself, and the flow must not print it a second time)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pipelines.cli import main

#: What a ``--no-train`` run on Prefect's thread runner prints, in this order.
STAGES = ["ingest", "profile", "validate-raw", "clean", "store", "validate-cleaned", "report"]
STAGE_LINE = re.compile(r"  (\S+) +(\d+\.\d\d) s")


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
