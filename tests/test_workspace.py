"""The staging folder and the lock beside ``out``: one run at a time per output folder.

Lock holders are real processes (``python -c``), killed for real where a test needs it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataqual.config import RunConfig
from dataqual.errors import OutputError
from dataqual.workspace import discard, finish, open_workspace

RUN_JSON = {"status": "passed", "exit_code": 0, "dataqual_version": "0"}

#: A child that opens a workspace on argv[2] (source argv[1]), says so on stdout, then
#: either waits for argv[3] seconds and discards it, or kills itself (argv[3] == "kill").
HOLDER = (
    "import os, sys, time\n"
    "from dataqual.config import RunConfig\n"
    "from dataqual.workspace import discard, open_workspace\n"
    "ws = open_workspace(RunConfig(source=sys.argv[1], out=sys.argv[2], overwrite=True))\n"
    "(ws.staging / 'half-written.bin').write_bytes(b'x' * 100)\n"
    "print(ws.staging, flush=True)\n"
    "if sys.argv[3] == 'kill':\n"
    "    os.kill(os.getpid(), 9)\n"
    "time.sleep(float(sys.argv[3]))\n"
    "discard(ws)\n"
)


def config(tmp_path: Path, *, overwrite: bool = True) -> RunConfig:
    (tmp_path / "src").mkdir(exist_ok=True)
    return RunConfig(source=tmp_path / "src", out=tmp_path / "out", overwrite=overwrite)


def start_holder(cfg: RunConfig, how: str) -> tuple[subprocess.Popen[str], Path]:
    """Start a holder process; return it and its staging folder once it holds the lock."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(cfg.source), str(cfg.out), how],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    return holder, Path(holder.stdout.readline().strip())


def dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_a_second_run_on_the_same_out_is_refused_until_the_first_ends(tmp_path: Path) -> None:
    first = open_workspace(config(tmp_path))
    lock = tmp_path / ".out.lock"
    held = json.loads(lock.read_text())
    assert held["pid"] == os.getpid()
    assert first.staging.name.startswith(f".out.partial-{os.getpid()}-")
    message = f"another run (pid {os.getpid()}, started {held['started']}) is writing {first.out}"
    with pytest.raises(OutputError, match="^" + re.escape(message) + "; wait for it"):
        open_workspace(config(tmp_path))
    discard(first)
    assert not first.staging.exists() and not lock.exists()
    second = open_workspace(config(tmp_path))
    run_json = finish(second, RUN_JSON)
    assert run_json == tmp_path / "out" / "run.json"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no lock, no staging


def test_another_process_is_named_with_its_pid_and_start(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    holder, _ = start_holder(cfg, "30")
    try:
        started = time.monotonic()
        with pytest.raises(OutputError) as refused:
            open_workspace(cfg)
        assert time.monotonic() - started < 2  # at once
        assert f"another run (pid {holder.pid}, started 20" in str(refused.value)
        assert f"is writing {cfg.out.absolute()}; wait for it (--wait-lock" in str(refused.value)
    finally:
        holder.kill()
        holder.wait()


def test_wait_lock_proceeds_once_the_holder_releases(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    holder, staging = start_holder(cfg, "2")
    try:
        started = time.monotonic()
        workspace = open_workspace(cfg, wait_lock=10)
        assert 0.5 < time.monotonic() - started < 9
        assert not staging.exists()  # the holder discarded its own
        finish(workspace, RUN_JSON)
        assert holder.wait(timeout=30) == 0
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / "out" / "run.json").is_file()


def test_wait_lock_gives_up_after_its_seconds(tmp_path: Path) -> None:
    first = open_workspace(config(tmp_path))
    started = time.monotonic()
    with pytest.raises(
        OutputError, match=r"another run \(pid \d+, started .*\) is writing .*; waited 0.5 s$"
    ):
        open_workspace(config(tmp_path), wait_lock=0.5)
    assert 0.4 < time.monotonic() - started < 3
    discard(first)


def test_a_waiting_run_sees_the_output_the_holder_finished(tmp_path: Path) -> None:
    """Waiting for the lock never lets a run without ``overwrite`` replace what the run
    it waited for wrote: ``out`` is checked again once the lock is held."""
    first = open_workspace(config(tmp_path, overwrite=False))
    finish(first, RUN_JSON)
    (tmp_path / "out" / "run.json").write_text(json.dumps(RUN_JSON))
    with pytest.raises(OutputError, match="folder is not empty"):
        open_workspace(config(tmp_path, overwrite=False), wait_lock=1)


def test_finish_keeps_an_output_that_appeared_during_the_run(tmp_path: Path) -> None:
    workspace = open_workspace(config(tmp_path, overwrite=False))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "run.json").write_text(json.dumps(RUN_JSON | {"status": "theirs"}))
    with pytest.raises(OutputError, match="folder is not empty; choose another --out"):
        finish(workspace, RUN_JSON)
    discard(workspace)
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_finish_with_overwrite_replaces_an_earlier_run(tmp_path: Path) -> None:
    finish(open_workspace(config(tmp_path)), RUN_JSON | {"status": "first"})
    finish(open_workspace(config(tmp_path)), RUN_JSON | {"status": "second"})
    assert json.loads((tmp_path / "out" / "run.json").read_text())["status"] == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no .old- left


def test_finish_takes_the_lock_again_if_its_file_was_removed(tmp_path: Path) -> None:
    workspace = open_workspace(config(tmp_path))
    (tmp_path / ".out.lock").unlink()
    intruder = open_workspace(config(tmp_path))  # the lock file was gone: nothing stops it
    with pytest.raises(OutputError, match=r"another run \(pid \d+"):
        finish(workspace, RUN_JSON)
    discard(workspace)
    finish(intruder, RUN_JSON)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_a_killed_run_is_taken_over_and_its_staging_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(tmp_path)
    holder, staging = start_holder(cfg, "kill")
    assert holder.wait(timeout=60) == -9
    assert staging.is_dir() and (tmp_path / ".out.lock").exists()  # the file stays, not the lock
    with caplog.at_level(logging.INFO, logger="dataqual.workspace"):
        workspace = open_workspace(cfg)
    assert not staging.exists()
    lines = [r.getMessage() for r in caplog.records if r.name == "dataqual.workspace"]
    assert len(lines) == 1
    assert f"a run (pid {holder.pid}, started" in lines[0]
    assert f"removed 1 staging folder(s) ({staging.name})" in lines[0]
    assert json.loads((tmp_path / ".out.lock").read_text())["pid"] == os.getpid()
    finish(workspace, RUN_JSON)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]


def test_the_sweep_removes_only_staging_folders_of_dead_processes(tmp_path: Path) -> None:
    cfg, dead = config(tmp_path), dead_pid()
    target = tmp_path / "keep-me"
    target.mkdir()
    kept = {
        ".out.partial-abc12345": "dir",  # an older dataqual's name: no pid, not ours to judge
        f".out.partial-{dead}-file": "file",
        f".out.partial-{dead}-link": "link",
        f".other.partial-{dead}-abc": "dir",
        f".out.partial-{os.getppid()}-alive": "dir",
        f"out.partial-{dead}-abc": "dir",
    }
    for name, kind in kept.items():
        path = tmp_path / name
        {"dir": path.mkdir, "file": path.touch, "link": lambda p=path: p.symlink_to(target)}[kind]()
    (tmp_path / f".out.partial-{dead}-gone" / "shards").mkdir(parents=True)
    discard(open_workspace(cfg))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "keep-me", "src"])
    assert (tmp_path / f".out.partial-{dead}-link").is_symlink() and target.is_dir()
