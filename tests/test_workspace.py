"""The staging folder and the lock beside ``out``: one run at a time per output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataqual.config import RunConfig
from dataqual.errors import OutputError
from dataqual.workspace import discard, finish, open_workspace


def config(tmp_path: Path) -> RunConfig:
    (tmp_path / "src").mkdir(exist_ok=True)
    return RunConfig(source=tmp_path / "src", out=tmp_path / "out", overwrite=True)


def test_a_second_run_on_the_same_out_is_refused_until_the_first_ends(tmp_path: Path) -> None:
    first = open_workspace(config(tmp_path))
    assert (tmp_path / ".out.lock").is_file()
    with pytest.raises(OutputError, match=r"another dataqual run \(pid \d+\) is writing it"):
        open_workspace(config(tmp_path))
    discard(first)
    assert not first.staging.exists() and not (tmp_path / ".out.lock").exists()
    second = open_workspace(config(tmp_path))
    run_json = finish(second, {"status": "passed", "exit_code": 0, "dataqual_version": "0"})
    assert run_json == tmp_path / "out" / "run.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no lock, no staging


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves no lock behind that blocks the next run."""
    code = (
        "import os, sys\n"
        "from dataqual.config import RunConfig\n"
        "from dataqual.workspace import open_workspace\n"
        "open_workspace(RunConfig(source=sys.argv[1], out=sys.argv[2], overwrite=True))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    cfg = config(tmp_path)
    done = subprocess.run([sys.executable, "-c", code, str(cfg.source), str(cfg.out)], check=False)
    assert done.returncode == -9
    assert (tmp_path / ".out.lock").exists()  # the file stays, the lock does not
    discard(open_workspace(cfg))
