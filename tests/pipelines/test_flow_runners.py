"""The same flow on Prefect's thread runner and on a Dask cluster of two worker processes
writes byte-identical artefacts: stages exchange values, not live objects."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from dataqual.config import RunConfig

#: Artefacts whose bytes depend only on the data (reports and JSON carry times). The
#: label-issue queue's scores come from BLAS products, whose last bits depend on the thread
#: count (a Dask worker runs BLAS on one thread): it is compared to 1e-5 below.
COMPARED = ("shards/*/*.parquet", "quarantine.parquet", "findings.parquet")


def artefact_digests(out: Path) -> dict[str, str]:
    found = sorted(p for pattern in COMPARED for p in out.glob(pattern))
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in found}


@pytest.mark.usefixtures("prefect_harness")
def test_dask_process_runner_writes_the_same_bytes_as_the_thread_runner(
    sample_dir: Path, tmp_path: Path
) -> None:
    from pipelines.flows import run_flow
    from prefect_dask import DaskTaskRunner

    on_threads = run_flow(RunConfig(source=sample_dir, out=tmp_path / "threads", train=False))
    runner = DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": 2,
            "processes": True,
            "threads_per_worker": 2,
            "dashboard_address": None,
        },
    )
    on_dask = run_flow.with_options(task_runner=runner)(
        RunConfig(source=sample_dir, out=tmp_path / "dask", train=False)
    )
    assert on_threads.exit_code == on_dask.exit_code == 0
    threads, dask = artefact_digests(tmp_path / "threads"), artefact_digests(tmp_path / "dask")
    assert len(threads) >= 4 and "findings.parquet" in threads
    assert dask == threads
    queues = [
        pd.read_parquet(tmp_path / run / "label_issues.parquet") for run in ("threads", "dask")
    ]
    pd.testing.assert_frame_equal(queues[0], queues[1], check_exact=False, atol=1e-5, rtol=0)
    assert on_dask.summary.counts == on_threads.summary.counts

    def verdicts(checks: list) -> list[tuple]:
        return [(c.name, c.split, c.success, c.unexpected_count) for c in checks]

    assert verdicts(on_dask.summary.checks) == verdicts(on_threads.summary.checks)
    assert verdicts(on_dask.summary.cleaned.checks) == verdicts(on_threads.summary.cleaned.checks)
