"""Advisory file locks that say who holds them, and the ``latest`` pointer of a run root.

:func:`acquire_lock` takes an exclusive ``flock`` on a small file and writes the holder's
pid and start time into it as JSON. The kernel drops the lock when its process ends,
however it ends (``kill -9`` included), so a lock file whose ``flock`` is free is stale and
is simply taken over; :attr:`FileLock.stale` then says who held it. A clean release removes
the file while still holding it, so whoever opened the old file checks, once it holds the
lock, that the path still names the file it locked, and starts again otherwise.

:func:`point_latest` moves ``OUT_ROOT/latest.json`` to a finished run folder (written to a
temporary name, then renamed), under a lock of its own; :func:`read_latest` follows it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dataqual.errors import OutputError
from dataqual.files import write_json

__all__ = ["LATEST", "FileLock", "Holder", "acquire_lock", "point_latest", "read_latest"]

#: The pointer file of a run root: ``{"run": "<folder>", "updated": "<ISO UTC>"}``.
LATEST = "latest.json"
_POLL = 0.1  # seconds between two tries of a busy lock
_SETTLE = 0.5  # how long to wait for a new holder to write its pid


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as written in its file; ``None`` where unknown."""

    pid: int | None = None
    started: str | None = None

    def describe(self) -> str:
        return f"pid {self.pid or 'unknown'}, started {self.started or 'unknown'}"


@dataclass
class FileLock:
    """A held lock: its file, its open descriptor, and the dead holder it was taken over
    from (``None`` when the file was new or left by a clean release)."""

    path: Path
    fd: int
    stale: Holder | None = None

    def still_named(self) -> bool:
        """True while this lock is held and its path still names the file that was locked."""
        return self.fd >= 0 and _same_file(self.fd, self.path)

    def release(self) -> None:
        """Remove the lock file (only if it is still this lock's) and drop the lock."""
        if self.fd < 0:
            return
        if self.still_named():
            self.path.unlink(missing_ok=True)  # still locked: no one else can take this file
        os.close(self.fd)
        self.fd = -1


def _same_file(fd: int, path: Path) -> bool:
    try:
        now, held = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _parse(text: str) -> Holder | None:
    """The holder written in a lock file: JSON, or a bare pid (older dataqual)."""
    text = text.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if isinstance(data, int):
        return Holder(pid=data)
    if isinstance(data, dict) and isinstance(data.get("pid"), int):
        started = data.get("started")
        return Holder(pid=data["pid"], started=started if isinstance(started, str) else None)
    return None


def _read(fd: int) -> Holder | None:
    return _parse(os.pread(fd, 4096, 0).decode(errors="replace"))


def _holder(fd: int) -> Holder:
    """The holder of a busy lock; a holder that has just taken it may not have written yet."""
    deadline = time.monotonic() + _SETTLE
    while (found := _read(fd)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return found or Holder()


def _busy(subject: object, holder: Holder, wait: float | None) -> OutputError:
    hint = (
        f"waited {wait:g} s"
        if wait is not None
        else "wait for it (--wait-lock SECONDS) or choose another --out"
    )
    return OutputError(f"another run ({holder.describe()}) is writing {subject}; {hint}")


def _try_lock(path: Path) -> tuple[int, bool]:
    """Open ``path`` and try to lock it without blocking: (descriptor, locked)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"{path}: cannot create the lock file: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return fd, False
    except BaseException:
        os.close(fd)
        raise
    return fd, True


def acquire_lock(path: Path, *, subject: object, wait: float | None = None) -> FileLock:
    """Hold the lock file ``path`` and write this process's pid and start time in it.

    If another live process holds it, raise :class:`OutputError` ``another run (pid N,
    started T) is writing SUBJECT`` at once, or, with ``wait`` (seconds), try again until
    then and raise it with ``waited S s``. A lock left by a dead process is taken over.
    """
    if wait is not None and wait < 0:
        raise ValueError(f"wait must be >= 0 seconds, not {wait}")
    path = Path(path)
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        fd, locked = _try_lock(path)
        if not locked:
            holder = _holder(fd)
            os.close(fd)
            left = -1.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise _busy(subject, holder, wait)
            time.sleep(min(_POLL, left))
            continue
        if not _same_file(fd, path):  # released (and removed) between our open and lock
            os.close(fd)
            continue
        previous = _read(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": _now()}).encode(), 0)
        return FileLock(path=path, fd=fd, stale=previous)


def read_latest(out_root: Path) -> Path | None:
    """The run folder ``OUT_ROOT/latest.json`` points at, or ``None`` when there is no
    pointer, it is unreadable, or its folder is gone."""
    out_root = Path(out_root).absolute()
    try:
        data = json.loads((out_root / LATEST).read_text(encoding="utf-8"))
        run = out_root / data["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return run if run.is_dir() and run.parent == out_root else None


def point_latest(out_root: Path, run_dir: Path, *, wait: float = 30.0) -> Path:
    """Point ``OUT_ROOT/latest.json`` at ``run_dir`` (a folder directly inside ``out_root``)
    and return the pointer's path.

    The pointer is written to a temporary name and renamed into place, under the lock
    ``OUT_ROOT/.latest.lock``. It never moves back: run folders are named by their UTC
    start time, so when the current target's name sorts after ``run_dir``'s (a later run
    finished first), the pointer is left as it is.
    """
    out_root, run_dir = Path(out_root).absolute(), Path(run_dir).absolute()
    if run_dir.parent != out_root or not run_dir.is_dir():
        raise OutputError(f"{run_dir}: not a run folder directly inside {out_root}")
    pointer = out_root / LATEST
    lock = acquire_lock(out_root / ".latest.lock", subject=pointer, wait=wait)
    try:
        current = read_latest(out_root)
        if current is None or current.name <= run_dir.name:
            write_json(pointer, {"run": run_dir.name, "updated": _now()})
    finally:
        lock.release()
    return pointer
