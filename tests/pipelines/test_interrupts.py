"""Ctrl-C and SIGTERM during a real run: the process stops within 5 s with exit 130/143 and
one line, leaves no staging folder, its Prefect flow run does not stay RUNNING, the server
stays healthy, and the next run succeeds. Real processes, real signals, a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pipelines.server import ServerProcess, free_port, server_healthy, start_server

from tests.pipelines.ops_helpers import (
    REPO,
    dataqual_command,
    env_for,
    start_warm_server,
    warm_log,
)

pytestmark = pytest.mark.slow

_PLUGIN = "tests.pipelines.slow_reader"  # loaded by the runs only, never in this process


def write_slow_source(path: Path, rows: int, delay: float, marker: Path) -> Path:
    """A source for :mod:`tests.pipelines.slow_reader`: ``rows`` images arriving ``delay``
    seconds a chunk of 50, ``marker`` touched when a pass over them begins."""
    path.write_text(json.dumps({"rows": rows, "delay": delay, "marker": str(marker)}))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with its warm runner, which takes the runs :func:`_start` starts (the path a
    user with ``dataqual server`` takes): the signals reach the run through the client."""
    running = start_warm_server(tmp_path_factory.mktemp("prefect-home"))
    yield running
    running.stop()


def _start(home: Path, *args: str, new_session: bool = False) -> subprocess.Popen[str]:
    """``dataqual ARGS`` as a real process that finds the server through ``home``."""
    return subprocess.Popen(
        dataqual_command("--prefect-home", str(home), "--plugin", _PLUGIN, *args),
        env=env_for(home, None),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
    )


def _collect(process: subprocess.Popen[str]) -> list[str]:
    """The process's stdout lines, collected by a thread as they come."""
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        lines.extend(iter(process.stdout.readline, ""))

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _stop_with(process: subprocess.Popen[str], signum: int, *, group: bool = False) -> float:
    """Send ``signum`` (to the whole process group, as a terminal's Ctrl-C does, when
    ``group``) and return the seconds until the process exited."""
    sent = time.monotonic()
    if group:
        os.killpg(process.pid, signum)
    else:
        os.kill(process.pid, signum)
    try:
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return time.monotonic() - sent


def _post(api_url: str, path: str, body: dict[str, object]) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"{api_url}/{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _flow_run_of(api_url: str, out: Path) -> dict[str, object]:
    """The flow run whose config wrote (or would have written) ``out``."""
    runs = _post(api_url, "flow_runs/filter", {"limit": 50, "sort": "START_TIME_DESC"})
    mine = [r for r in runs if r["parameters"].get("config", {}).get("out") == str(out)]  # type: ignore[union-attr]
    assert mine, f"no flow run wrote {out}"
    return mine[0]


def _task_running(api_url: str, name: str) -> bool:
    body = {"task_runs": {"name": {"like_": name}, "state": {"type": {"any_": ["RUNNING"]}}}}
    return bool(_post(api_url, "task_runs/filter", body))


def _assert_stopped_cleanly(
    process: subprocess.Popen[str],
    seconds: float,
    out: Path,
    code: int,
    said: str = "dataqual: interrupted; nothing written",
) -> None:
    stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode == code, stderr
    assert seconds < 5.0, f"took {seconds:.1f} s to stop"
    assert stderr.strip().splitlines()[-1] == said
    for noise in ("Traceback", "Crash detected", "httpx", "internal error"):
        assert noise not in stderr, stderr
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.partial")]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_profiling_stops_the_run_within_5_s(
    server: ServerProcess, tmp_path: Path, signum: int
) -> None:
    marker = tmp_path / "reading"
    source = write_slow_source(tmp_path / "data.slow", rows=4000, delay=0.1, marker=marker)
    out = tmp_path / "out"
    process = _start(server.home, "run", "--source", str(source), "--out", str(out), "--no-train")
    _wait_for(marker.exists, "the records to be read")
    time.sleep(1.0)
    seconds = _stop_with(process, signum)
    _assert_stopped_cleanly(process, seconds, out, 128 + signum)
    assert f"--out {out} --no-train" in warm_log(server.home)  # it ran in the warm runner
    state = _flow_run_of(server.api_url, out)["state"]
    assert state["type"] == "CANCELLED", state  # type: ignore[index]
    assert signal.Signals(signum).name in state["message"]  # type: ignore[index]
    assert server_healthy(server.api_url)


def test_ctrl_c_during_training_stops_within_5_s_and_a_rerun_succeeds(
    server: ServerProcess, sample_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = ("run", "--source", str(sample_dir), "--out", str(out))
    process = _start(server.home, *run, "--epochs", "400")
    lines = _collect(process)
    _wait_for(lambda: _task_running(server.api_url, "train"), "training to start")
    _wait_for(lambda: any(line.startswith("epoch 2/400") for line in lines), "epoch 2")
    seconds = _stop_with(process, signal.SIGINT)
    (backup,) = out.parent.glob(".out.train-backup-*")  # epochs done so far: kept, named
    kept = f"dataqual: interrupted; kept the training backup {backup}; the same command resumes"
    _assert_stopped_cleanly(process, seconds, out, 130, said=f"{kept} from it")
    assert f"--out {out} --epochs 400" in warm_log(server.home)
    state = _flow_run_of(server.api_url, out)["state"]
    assert state["type"] in {"CANCELLED", "CRASHED"}, state  # type: ignore[index]
    assert server_healthy(server.api_url)

    rerun = _start(server.home, *run, "--epochs", "1")  # new settings: a fresh training
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assert json.loads((out / "run.json").read_text())["training"] == "done"
    assert not list(out.parent.glob(".out.train-backup-*"))  # a finished training clears them


def test_ctrl_c_to_the_terminal_group_without_a_server_is_recorded(tmp_path: Path) -> None:
    """No ``dataqual server``: the command's private Prefect server sits in its own session,
    so the terminal's Ctrl-C (to the whole process group) stops the run, not the server,
    and the run's state is recorded before the command exits."""
    home = tmp_path / "home"
    home.mkdir()
    marker = tmp_path / "reading"
    source = write_slow_source(tmp_path / "data.slow", rows=4000, delay=0.1, marker=marker)
    out = tmp_path / "out"
    run = ("run", "--source", str(source), "--out", str(out), "--no-train")
    process = _start(home, *run, new_session=True)
    _wait_for(marker.exists, "the records to be read")
    time.sleep(1.0)
    seconds = _stop_with(process, signal.SIGINT, group=True)
    _assert_stopped_cleanly(process, seconds, out, 130)
    later = start_server(free_port(), home)  # the same database, read afterwards
    try:
        state = _flow_run_of(later.api_url, out)["state"]
        assert state["type"] == "CANCELLED", state  # type: ignore[index]
    finally:
        later.stop()
