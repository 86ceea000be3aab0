"""File locks that name their holder, and the ``latest`` pointer of a run root."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from dataqual.errors import OutputError
from dataqual.locks import LATEST, Holder, acquire_lock, point_latest, read_latest


def test_never_two_holders_although_releases_remove_the_file(tmp_path: Path) -> None:
    """A release unlinks the lock file: a waiter that opened the old file must not take
    it while a newcomer holds a new one."""
    path, holders, most, errors = tmp_path / ".x.lock", [0], [0], []
    guard = threading.Lock()

    def work() -> None:
        try:
            for _ in range(25):
                lock = acquire_lock(path, subject="x", wait=30)
                with guard:
                    holders[0] += 1
                    most[0] = max(most[0], holders[0])
                time.sleep(0.001)
                with guard:
                    holders[0] -= 1
                lock.release()
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and most == [1]
    assert not path.exists()


def test_a_lock_left_by_a_dead_holder_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / ".x.lock"
    path.write_text(json.dumps({"pid": 999999999, "started": "2020-01-01T00:00:00+00:00"}))
    lock = acquire_lock(path, subject="x")
    assert lock.stale == Holder(999999999, "2020-01-01T00:00:00+00:00")
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()
    path.write_text("4242\n")  # an older dataqual wrote the bare pid
    lock = acquire_lock(path, subject="x")
    assert lock.stale == Holder(4242) and "pid 4242, started unknown" in lock.stale.describe()
    lock.release()
    assert acquire_lock(path, subject="x").stale is None


def test_a_negative_wait_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="wait must be >= 0"):
        acquire_lock(tmp_path / ".x.lock", subject="x", wait=-1)


def test_a_lock_file_that_cannot_be_created_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="cannot create the lock file"):
        acquire_lock(tmp_path / "missing" / ".x.lock", subject="x")


def test_latest_points_at_the_newest_finished_run(tmp_path: Path) -> None:
    older, newer = tmp_path / "20260101T000000Z-aaaa", tmp_path / "20260101T000100Z-bbbb"
    older.mkdir(), newer.mkdir()
    assert read_latest(tmp_path) is None
    pointer = point_latest(tmp_path, older)
    assert pointer == tmp_path / LATEST and read_latest(tmp_path) == older
    data = json.loads(pointer.read_text())
    assert data["run"] == older.name and data["updated"].endswith("+00:00")
    point_latest(tmp_path, newer)
    point_latest(tmp_path, older)  # finished late: the pointer does not move back
    assert read_latest(tmp_path) == newer
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([LATEST, older.name, newer.name])


def test_latest_refuses_a_folder_outside_its_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(OutputError, match="not a run folder directly inside"):
        point_latest(tmp_path / "root", tmp_path / "elsewhere")


def test_a_busy_latest_pointer_names_its_holder(tmp_path: Path) -> None:
    run = tmp_path / "20260101T000000Z-aaaa"
    run.mkdir()
    held = acquire_lock(tmp_path / ".latest.lock", subject="x")
    with pytest.raises(OutputError, match=rf"another run \(pid {os.getpid()}.*waited 0.2 s"):
        point_latest(tmp_path, run, wait=0.2)
    held.release()
    point_latest(tmp_path, run)
    assert read_latest(tmp_path) == run
