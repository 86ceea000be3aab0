"""``dataqual serve`` against a real Prefect server: an interval deployment runs on its own,
the first run does the work and moves ``latest``, the next finds nothing new; a signal,
however early, leaves the deployment paused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.server import ServerProcess, free_port, start_server

from dataqual.locks import read_latest
from dataqual.store.manifest import Manifest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "sample"
#: ``dataqual serve`` through the real parser and ``cmd_serve``, whether or not the CLI has
#: the command wired in yet.
DRIVER = """
import sys
from pipelines import cli
if "serve" in cli.COMMANDS:
    sys.exit(cli.main(sys.argv[1:]))
from dataqual.errors import DataqualError
from pipelines.cli_args import build_parser
from pipelines.cli_serve import add_serve_parser, cmd_serve
from pipelines.prefect_env import configure_prefect
configure_prefect()
args = build_parser(add_serve_parser).parse_args(sys.argv[1:])
args.plugins = []
try:
    sys.exit(cmd_serve(args))
except DataqualError as exc:
    print(f"dataqual: error: {exc}", file=sys.stderr)
    sys.exit(2)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    started = start_server(port=free_port(), home=tmp_path / "prefect")
    try:
        yield started
    finally:
        started.stop()


def _serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", DRIVER, *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _folders(out_root: Path) -> list[Path]:
    return sorted(p for p in out_root.iterdir() if p.is_dir()) if out_root.is_dir() else []


def _done(folder: Path) -> bool:
    return (folder / "unchanged.json").is_file() or (folder / "runkey.json").is_file()


def _await_two(out_root: Path, process: subprocess.Popen[bytes], log: Path) -> list[Path]:
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        done = [f for f in _folders(out_root) if _done(f)]
        if len(done) >= 2:
            return done
        assert process.poll() is None, log.read_text()
        time.sleep(1)
    raise AssertionError(f"fewer than two finished runs in 150 s:\n{log.read_text()}")


def _flow_run_seconds(api_url: str, flow_run_id: str) -> tuple[str, float]:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    assert run.state is not None
    return run.state.type.value, run.total_run_time.total_seconds()


@pytest.mark.slow
def test_interval_deployment_runs_then_finds_nothing_new(
    tmp_path: Path, server: ServerProcess
) -> None:
    out_root, log = tmp_path / "runs", tmp_path / "serve.log"
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(server.home)}
    env["DATAQUAL_PREFECT_HOME"] = str(server.home)
    args = ["serve", "sample", "--source", str(SAMPLE), "--out-root", str(out_root)]
    process = _serve([*args, "--interval", "5", "--no-train"], env, log)
    try:
        first, second = _await_two(out_root, process, log)[:2]
    finally:
        _stop(process)
    run = json.loads((first / "run.json").read_text())
    assert run["status"] == "passed"
    shards = first / Path(run["manifest"]).parent
    assert Manifest.load(shards).verify(shards) == []
    assert read_latest(out_root) == first
    record = json.loads((second / "unchanged.json").read_text())
    assert record["unchanged"] is True and record["same_as"] == first.name
    assert record["key"] == json.loads((first / "runkey.json").read_text())["key"]
    assert sorted(p.name for p in second.iterdir()) == ["unchanged.json"]
    state, seconds = _flow_run_seconds(server.api_url, record["flow_run_id"])
    assert state == "COMPLETED"
    assert seconds < 5, seconds


def test_serve_without_a_server_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["DATAQUAL_PREFECT_HOME"] = env["PREFECT_HOME"] = str(tmp_path / "home")
    args = ["serve", "x", "--source", str(SAMPLE), "--out-root", str(tmp_path / "o")]
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, *args, "--interval", "5"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "dataqual server" in done.stderr.strip().splitlines()[-1]


def _deployment(api_url: str, name: str) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"{api_url}/deployments/name/{name}", timeout=2) as resp:
            return json.loads(resp.read())
    except (urllib.error.URLError, OSError):
        return None


@pytest.mark.slow
def test_a_signal_right_after_registering_leaves_the_deployment_paused(
    tmp_path: Path, server: ServerProcess
) -> None:
    # Prefect's runner pauses its deployments only once it has fully started: a signal in
    # the first seconds after the deployment exists used to leave it scheduling runs.
    log = tmp_path / "serve.log"
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_HOME": str(server.home)}
    env["DATAQUAL_PREFECT_HOME"] = str(server.home)
    args = ["serve", "early", "--source", str(SAMPLE), "--out-root", str(tmp_path / "runs")]
    process = _serve([*args, "--interval", "3600", "--no-train"], env, log)
    try:
        deadline = time.monotonic() + 90
        while _deployment(server.api_url, "dataqual-scheduled/early") is None:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGINT)  # as soon as the deployment exists
        code = process.wait(20)
    finally:
        _stop(process)
    deployment = _deployment(server.api_url, "dataqual-scheduled/early")
    assert deployment is not None and deployment["paused"] is True, deployment
    output = log.read_text()
    assert code == 130, output
    assert output.strip().splitlines()[-1] == (
        "dataqual: stopped serving dataqual-scheduled/early; its schedule is paused"
    ), output
