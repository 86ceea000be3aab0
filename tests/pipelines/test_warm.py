"""The warm runner: ``dataqual run`` handed to a process that has already imported Prefect
and dataqual, with the same output, exit codes and signals as a command run in place; and
every case it must not take runs in place instead. Real server, real processes, real
signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.prefect_env import default_prefect_home
from pipelines.warm_client import effective_env, env_digest, warm_home

from tests.pipelines.ops_helpers import (
    REPO,
    dataqual_command,
    env_for,
    start_warm_server,
    warm_log,
)
from tests.pipelines.test_interrupts import write_slow_source

_PLUGIN = "tests.pipelines.slow_reader"


@pytest.mark.parametrize(
    ("argv", "home"),
    [
        (["run", "--source", "x"], "default"),
        (["--prefect-home", "/h", "run", "--out", "o"], "/h"),
        (["--prefect-home=/h", "--plugin", "m", "train", "r"], "/h"),
        (["--plugin=m", "fetch", "mnist"], "default"),
        (["-v", "run", "--source", "x"], None),  # its logging differs: runs in place
        (["--version"], None),
        (["--prefect-home", "/h", "server"], None),
        (["trigger", "dataqual-run/x", "--wait"], None),
        (["--prefect-home"], None),
        ([], None),
    ],
)
def test_only_run_train_and_fetch_at_default_verbosity_go_warm(
    argv: list[str], home: str | None
) -> None:
    expected = default_prefect_home() if home == "default" else home and Path(home)
    assert warm_home(argv) == expected


def test_the_environment_key_ignores_defaults_but_not_settings(tmp_path: Path) -> None:
    api = "http://127.0.0.1:9/api"
    base = {"PATH": "/bin", "LANG": "C"}
    key = env_digest(effective_env(base, tmp_path, api))
    # what dataqual sets by default, set explicitly to the same values: the same process
    same = {**base, "PREFECT_HOME": str(tmp_path), "DO_NOT_TRACK": "1", "PREFECT_API_URL": api}
    assert env_digest(effective_env(same, tmp_path, api)) == key
    # read per command, in the fork that has the client's environment: the same process
    for other in ({"TERM": "xterm"}, {"DATAQUAL_PLUGINS": "x"}, {"TF_CPP_MIN_LOG_LEVEL": "0"}):
        assert env_digest(effective_env({**base, **other}, tmp_path, api)) == key, other
    for changed in (
        {"PREFECT_API_REQUEST_TIMEOUT": "61"},
        {"PREFECT_LOGGING_LEVEL": "DEBUG"},
        {"PREFECT_API_URL": "http://127.0.0.1:10/api"},
        {"GX_ANALYTICS_ENABLED": "true"},
    ):
        assert env_digest(effective_env({**base, **changed}, tmp_path, api)) != key, changed
    assert env_digest(effective_env(base, tmp_path / "other", api)) != key


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("warm-home")
    server = start_warm_server(home)
    yield home
    server.stop()


def _dataqual(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        dataqual_command("--prefect-home", str(home), *args),
        env=env or env_for(home, None),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _taken(home: Path, out: Path) -> list[str]:
    """The warm runner's lines about the command that wrote ``out``."""
    lines = warm_log(home).splitlines()
    pids = {line.split()[2].rstrip(":") for line in lines if f"--out {out}" in line}
    return [line for line in lines if any(f"pid {pid}" in line for pid in pids)]


@pytest.mark.slow
def test_a_run_in_the_warm_runner_is_the_same_run(home: Path, sample_dir: Path) -> None:
    out = home.parent / "out-warm"
    process = _dataqual(home, "run", "--source", str(sample_dir), "--out", str(out), "--no-train")
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    taken = _taken(home, out)
    assert len(taken) == 2, warm_log(home)
    assert taken[1].endswith("exited 0")
    assert f"pid {process.pid}" not in warm_log(home)  # it ran in a fork, not in the client
    assert "  ingest " in stdout and f"run.json: {out / 'run.json'}" in stdout
    assert json.loads((out / "run.json").read_text())["status"] == "passed"
    assert stderr == ""

    bad = _dataqual(home, "run", "--source", str(home / "missing"), "--out", str(out) + "-bad")
    _, stderr = bad.communicate(timeout=60)
    assert bad.returncode == 2
    assert stderr == f"dataqual: error: {home / 'missing'}: no such file or folder\n"
    assert _taken(home, Path(str(out) + "-bad"))[-1].endswith("exited 2")


@pytest.mark.slow
def test_another_prefect_setting_runs_in_place(home: Path, sample_dir: Path) -> None:
    out = home.parent / "out-cold"
    env = {**env_for(home, None), "PREFECT_API_REQUEST_TIMEOUT": "61"}
    run = ("run", "--source", str(sample_dir), "--out", str(out), "--no-train")
    process = _dataqual(home, *run, env=env)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert _taken(home, out) == []  # the runner imported Prefect with other settings
    warm = home.parent / "out-warm"  # the same run, done in the warm runner (test above)
    assert _shards(out) == _shards(warm)
    cold_run, warm_run = (json.loads((o / "run.json").read_text()) for o in (out, warm))
    assert cold_run["counts"] == warm_run["counts"]


def _shards(out: Path) -> list[tuple[str, str]]:
    manifest = json.loads((out / "shards" / "manifest.json").read_text())
    return [(shard["path"], shard["sha256"]) for shard in manifest["shards"]]


@pytest.mark.slow
def test_a_killed_client_stops_its_command(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "reading"
    source = write_slow_source(tmp_path / "data.slow", rows=4000, delay=0.1, marker=marker)
    out = tmp_path / "out"
    run = ("--plugin", _PLUGIN, "run", "--source", str(source), "--out", str(out), "--no-train")
    process = _dataqual(home, *run)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline and process.poll() is None, process.stderr
        time.sleep(0.1)
    process.kill()  # kill -9: nobody forwards a signal; the runner sees its client go
    process.wait()
    deadline = time.monotonic() + 15
    while not any("exited" in line for line in _taken(home, out)):
        assert time.monotonic() < deadline, warm_log(home)
        time.sleep(0.2)
    assert _taken(home, out)[-1].endswith(f"exited {128 + signal.SIGTERM}")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial")]


@pytest.mark.slow
def test_a_dead_runner_is_bypassed(home: Path, sample_dir: Path) -> None:
    record = json.loads((home / "dataqual-warm.json").read_text())
    os.kill(record["pid"], signal.SIGKILL)  # its record and socket stay behind
    time.sleep(0.5)
    out = home.parent / "out-after"
    process = _dataqual(home, "run", "--source", str(sample_dir), "--out", str(out), "--no-train")
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert _taken(home, out) == []
