"""``dataqual serve --cron EXPR --timezone TZ`` against a real Prefect server: the served
deployment holds that cron in that timezone (no cron run is awaited)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.ops_helpers import REPO, env_for
from tests.pipelines.test_serve import DRIVER

NAME = "cron-paris"


@pytest.fixture
def api_url(prefect_harness: None) -> str:
    """The session's real Prefect server (conftest's harness, on a free loopback port)."""
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    assert url and url.startswith("http://127.0.0.1:"), url
    return url


def _deployment(api_url: str, name: str) -> Any:
    """The deployment ``name`` on the server, or None."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(name)
        except ObjectNotFound:
            return None


def _await_deployment(api_url: str, process: subprocess.Popen[bytes], log: Path) -> Any:
    deadline = time.monotonic() + 120
    while (deployment := _deployment(api_url, f"dataqual-scheduled/{NAME}")) is None:
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    return deployment


def _interrupt(process: subprocess.Popen[bytes]) -> int:
    os.killpg(process.pid, signal.SIGINT)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait(10)


def test_serve_with_cron_stores_that_cron_in_that_timezone(tmp_path: Path, api_url: str) -> None:
    out_root, log = tmp_path / "runs", tmp_path / "serve.log"
    args = ["serve", NAME, "--source", "data/sample", "--out-root", str(out_root), "--no-train"]
    args += ["--cron", "0 3 * * *", "--timezone", "Europe/Paris"]
    env = env_for(Path(os.environ["PREFECT_HOME"]), api_url)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", DRIVER, *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deployment = _await_deployment(api_url, process, log)
    finally:
        _interrupt(process)
    [schedule] = deployment.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * *", "Europe/Paris")
    assert schedule.active
    parameters = deployment.parameters
    assert parameters["out_root"] == str(out_root)
    assert parameters["config"]["source"] == str(REPO / "data" / "sample")  # made absolute
    assert parameters["max_late"] == 3600  # --cron's default: an hour
    assert not out_root.exists()  # nothing ran: no cron time was awaited
