"""``pipelines/prefect.yaml`` against a real Prefect server: ``prefect deploy --all`` from the
repository root declares the run, train and fetch deployments with their cron schedules,
and a real process worker runs the run deployment to Completed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.ops_helpers import REPO, env_for

POOL = "dataqual"
#: What prefect.yaml declares: deployment -> (cron, timezone, active).
SCHEDULES = {
    "dataqual-run/sample": ("0 2 * * *", "UTC", True),
    "dataqual-train/sample": ("30 2 * * *", "UTC", False),
    "dataqual-fetch/mnist": ("0 1 * * 0", "UTC", False),
}


@pytest.fixture
def api_url(prefect_harness: None) -> str:
    """The session's real Prefect server (conftest's harness: a server subprocess on a free
    loopback port with its own database), shared to keep this test lean."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url and url.startswith("http://127.0.0.1:"), url
    return url


def _prefect(args: list[str], env: dict[str, str], timeout: float = 120) -> str:
    """``prefect ARGS`` from the repository root; its output, or a failed assertion."""
    done = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _deployments(api_url: str) -> dict[str, Any]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        flows = {f.id: f.name for f in client.read_flows()}
        return {f"{flows[d.flow_id]}/{d.name}": d for d in client.read_deployments()}


def _run_deployment(api_url: str, deployment: Any, parameters: dict[str, Any]) -> str:
    """Create a flow run of ``deployment`` now (not waiting for its cron); its id. Its
    schedule is paused first: a cron run falling due meanwhile would hold the deployment's
    one concurrency slot, and this run would be cancelled (``CANCEL_NEW``)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            for schedule in deployment.schedules:
                client.update_deployment_schedule(deployment.id, schedule.id, active=False)
        run = run_deployment(deployment.id, parameters=parameters, timeout=0)
    return str(run.id)


def _state(api_url: str, flow_run_id: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    assert run.state is not None
    return f"{run.state.type.value}: {run.state.message}"


@pytest.mark.slow
def test_deploy_all_then_a_process_worker_runs_the_sample(tmp_path: Path, api_url: str) -> None:
    env = env_for(Path(os.environ["PREFECT_HOME"]), api_url)
    _prefect(["work-pool", "create", POOL, "--type", "process", "--overwrite"], env)
    _prefect(["deploy", "--all"], env)  # ./prefect.yaml -> pipelines/prefect.yaml

    deployments = _deployments(api_url)
    # the session's server may hold other tests' deployments: these are the pool's
    assert {n for n, d in deployments.items() if d.work_pool_name == POOL} == set(SCHEDULES)
    for name, (cron, timezone, active) in SCHEDULES.items():
        deployment = deployments[name]
        assert deployment.work_pool_name == POOL
        [schedule] = deployment.schedules
        assert (schedule.schedule.cron, schedule.schedule.timezone) == (cron, timezone)
        assert schedule.active is active, name
        # the working directory is the clone `prefect deploy` ran in, not a fixed path
        step = deployment.pull_steps[0]["prefect.deployments.steps.set_working_directory"]
        assert Path(step["directory"]) == REPO
    assert deployments["dataqual-run/sample"].parameters["config"]["source"] == "data/sample"

    out = tmp_path / "out"
    config = {"source": "data/sample", "out": str(out), "overwrite": True, "train": False}
    flow_run_id = _run_deployment(api_url, deployments["dataqual-run/sample"], {"config": config})
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--run-once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = worker.stdout + worker.stderr
    assert worker.returncode == 0, log[-4000:]
    assert _state(api_url, flow_run_id).startswith("COMPLETED"), log[-4000:]
    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["exit_code"], run["training"]) == ("passed", 0, "skipped")
    assert run["source"] == "data/sample"  # read relative to the repository root
