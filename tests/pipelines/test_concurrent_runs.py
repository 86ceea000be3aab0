"""One writer per output, with real runs in real processes (issue 10, item 6).

Two runs of the sample into one ``out``, the second without ``--overwrite``: one finishes,
the other is refused with exit 2, and the finished output verifies. A run killed with
SIGKILL in the middle leaves its lock and staging folder; the next run takes the lock over,
removes the staging folder and finishes.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dataqual.store.manifest import Manifest

pytestmark = pytest.mark.slow

#: ``run_pipeline`` on argv[1] into argv[2]; a DataqualError is one line on stderr and exit 2.
RUNNER = (
    "import sys\n"
    "from dataqual.config import RunConfig\n"
    "from dataqual.errors import DataqualError\n"
    "from dataqual.run import run_pipeline\n"
    "try:\n"
    "    done = run_pipeline(RunConfig(source=sys.argv[1], out=sys.argv[2], train=False))\n"
    "except DataqualError as exc:\n"
    "    print(exc, file=sys.stderr)\n"
    "    sys.exit(2)\n"
    "sys.exit(done.exit_code)\n"
)


def start_run(source: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(source), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def assert_intact(out: Path) -> None:
    assert Manifest.load(out / "shards").verify(out / "shards") == []
    assert (out / "run.json").is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no lock, no staging


def test_two_runs_into_one_out_one_writes_the_other_exits_2(
    sample_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = start_run(sample_dir, out)
    try:
        wait_for(lambda: (tmp_path / ".out.lock").exists(), "the first run's lock")
        time.sleep(1.0)
        second = start_run(sample_dir, out)  # no --overwrite
        second_err = second.communicate(timeout=300)[1]
        first_err = first.communicate(timeout=300)[1]
    finally:
        first.kill()
    assert (first.returncode, second.returncode) == (0, 2), first_err + second_err
    refused = second_err.strip().splitlines()[-1]
    # refused at once while the first ran, or (if the first was already done) by out itself
    assert (
        f"another run (pid {first.pid}, started " in refused and f"is writing {out}" in refused
    ) or f"{out}: folder is not empty" in refused, refused
    assert_intact(out)


def test_a_run_killed_mid_way_is_taken_over_by_the_next(sample_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    killed = start_run(sample_dir, out)
    staging: list[Path] = []

    def writing() -> bool:
        staging[:] = [p for p in tmp_path.glob(".out.partial-*") if any(p.rglob("*"))]
        return bool(staging)

    try:
        wait_for(writing, "the run's staging folder")
    finally:
        killed.kill()  # SIGKILL: nothing of the run's own cleanup runs
        killed.communicate(timeout=60)
    assert killed.returncode == -9
    assert staging[0].is_dir() and (tmp_path / ".out.lock").exists()
    rerun = start_run(sample_dir, out)
    err = rerun.communicate(timeout=300)[1]
    assert rerun.returncode == 0, err
    assert not staging[0].exists()
    assert_intact(out)
