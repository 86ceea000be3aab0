"""``dataqual trigger`` and ``dataqual runs`` against a real Prefect server on loopback, with the
run flow served as a real deployment in its own process."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.cli_ops import cmd_runs, cmd_trigger
from pipelines.server import ServerProcess, free_port, start_server
from pipelines.trigger import exit_code_for, parse_params

from dataqual.errors import ConfigError
from tests.pipelines.ops_helpers import REPO, dataqual_command, env_for, served_run_flow

# -- fast: parameters, exit codes, usage errors ------------------------------------------


def test_params_are_json_when_they_parse_else_strings(tmp_path: Path) -> None:
    params = parse_params(
        ["n=3", "flag=true", "name=nightly", "xs=[1, 2]", 'obj={"a": 1}', "empty="], tmp_path
    )
    assert params == {
        "n": 3,
        "flag": True,
        "name": "nightly",
        "xs": [1, 2],
        "obj": {"a": 1},
        "empty": "",
    }


def test_path_params_become_absolute_at_any_depth(tmp_path: Path) -> None:
    params = parse_params(
        [
            "config.source=data/sample",
            "config.out=../runs/a",
            "config.train=false",
            "config.dataset=mnist",
            "note=./here",
            "url=https://example.org/x",
        ],
        tmp_path,
    )
    assert params["config"] == {
        "source": str(tmp_path / "data" / "sample"),
        "out": str(tmp_path.parent / "runs" / "a"),
        "train": False,
        "dataset": "mnist",
    }
    assert params["note"] == str(tmp_path / "here")
    assert params["url"] == "https://example.org/x"


@pytest.mark.parametrize("item", ["novalue", "=3", "a=1 a.b=2"])
def test_a_malformed_param_is_one_line(item: str) -> None:
    with pytest.raises(ConfigError, match="--param"):
        parse_params(item.split(" "))


def test_exit_codes_follow_the_final_state() -> None:
    from prefect.states import Cancelled, Completed, Crashed, Failed

    class Outcome:
        exit_code = 1

    assert exit_code_for(Completed()) == 0
    assert exit_code_for(Completed(), Outcome()) == 1
    assert exit_code_for(Failed(message="run failed validation: blocking checks x (train)")) == 1
    assert (
        exit_code_for(Failed(message="Flow run encountered an exception: ValidationFailed: x")) == 1
    )
    bad = "Flow run encountered an exception: SourceError: /x: no such file"
    assert exit_code_for(Failed(message=bad)) == 2
    assert exit_code_for(Failed(message="Flow run encountered an exception: KeyError: 'x'")) == 3
    assert exit_code_for(Crashed(message="SIGTERM")) == 3
    assert exit_code_for(Cancelled()) == 3


def _args(home: Path, **extra: object) -> argparse.Namespace:
    base = {"prefect_home": home, "param": [], "wait": False, "timeout": None, "limit": 5}
    return argparse.Namespace(**{**base, **extra})


def test_without_a_server_trigger_and_runs_say_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(ConfigError, match="no Prefect server: start one with `dataqual server`"):
        cmd_trigger(_args(tmp_path, deployment="dataqual-run/nightly"))
    with pytest.raises(ConfigError, match="no Prefect server"):
        cmd_runs(_args(tmp_path))


# -- slow: a real server, a real served deployment -----------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = start_server(free_port(), tmp_path_factory.mktemp("prefect-home"))
    yield running
    running.stop()


def _dataqual(
    server: ServerProcess, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``dataqual ARGS`` with the server's home and no PREFECT_API_URL: it finds the server
    through the record ``start_server`` wrote."""
    return subprocess.run(
        dataqual_command("--prefect-home", str(server.home), *args),
        env=env_for(server.home, None),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_an_unknown_deployment_exits_2_with_one_line(server: ServerProcess) -> None:
    done = _dataqual(server, "trigger", "dataqual-run/nope")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"dataqual: error: no deployment dataqual-run/nope on {server.url}")
    bad = _dataqual(server, "trigger", "nightly")
    assert bad.returncode == 2
    assert "expected FLOW/NAME" in bad.stderr


@pytest.mark.slow
def test_trigger_wait_runs_the_served_flow_and_runs_lists_it(
    server: ServerProcess, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = env_for(server.home, server.api_url)
    with served_run_flow("ci", env, tmp_path / "serve.log"):
        done = _dataqual(
            server,
            "trigger",
            "dataqual-run/ci",
            "--param",
            "config.source=data/sample",
            "--param",
            f"config.out={out}",
            "--param",
            "config.train=false",
            "--wait",
            "--timeout",
            "240",
        )
        assert done.returncode == 0, (
            done.stdout + done.stderr + (tmp_path / "serve.log").read_text()
        )
        assert "state Running" in done.stdout and "state Completed" in done.stdout
        # the run's own log lines stream through, each task's named
        assert re.search(r"\d\d:\d\d:\d\d [\w-]+: Finished in state Completed", done.stdout)
        assert json.loads((out / "run.json").read_text())["status"] == "passed"

        bad = _dataqual(
            server,
            "trigger",
            "dataqual-run/ci",
            "--param",
            f"config.source={tmp_path / 'missing'}",
            "--param",
            f"config.out={tmp_path / 'out2'}",
            "--wait",
            "--timeout",
            "120",
        )
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert "state Failed" in bad.stdout

    runs = _dataqual(server, "runs", "--limit", "5")
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.splitlines()
    assert len(lines) == 2
    assert "Failed" in lines[0] and str(tmp_path / "missing") in lines[0]
    assert "Completed" in lines[1]
    assert str(REPO / "data" / "sample") in lines[1] and str(out) in lines[1]
