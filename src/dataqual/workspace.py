"""The staging folder of a run: created beside ``out``, moved into place only at the end.

A run writes everything into a hidden staging folder next to ``out`` and renames it to
``out`` only when every stage has succeeded, so a failed or interrupted run leaves nothing
half-written. While it works it holds a lock beside ``out`` (``.OUT.lock``, see
:mod:`dataqual.locks`), so a second run with the same ``out`` is refused (or waits) instead
of racing it. The staging folder is named ``.OUT.partial-<pid>-<random>``: when a run was
killed, the next one takes its lock over and removes the staging folders of dead processes.
A :class:`Workspace` is a plain value (paths and a time), so any stage in any process can
write into it; the lock stays with the process that opened it, which also finishes it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dataqual.config import RunConfig
from dataqual.errors import OutputError
from dataqual.files import make_dir_public, write_json
from dataqual.locks import FileLock, acquire_lock
from dataqual.outdir import RUN_JSON, check_output
from dataqual.summary import ARTEFACTS

__all__ = ["Workspace", "discard", "finish", "open_workspace", "preflight_output"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """Where a run writes: ``staging`` now, ``out`` once it has finished."""

    out: Path
    staging: Path
    started: str
    overwrite: bool
    inputs: tuple[Path, ...]

    def path(self, key: str) -> Path:
        """The staging path of the artefact ``key`` of :data:`~dataqual.summary.ARTEFACTS`."""
        return self.staging / ARTEFACTS[key]

    @property
    def shards(self) -> Path:
        return self.path("manifest").parent

    @property
    def data_docs(self) -> Path:
        return self.path("data_docs").parent

    @property
    def gx_store(self) -> Path:
        """Where the validation stages keep GX suites and results for Data Docs (removed
        once the docs are built)."""
        return self.staging / ".gx-store"


def preflight_output(config: RunConfig) -> Path:
    """The absolute ``out`` if a run may write it (see :func:`dataqual.outdir.check_output`):
    absent, empty, or an earlier run with ``overwrite``; never an input or near one."""
    return check_output(config.out, overwrite=config.overwrite, inputs=config.inputs())


#: The locks of the runs this process is writing, by staging folder.
_LOCKS: dict[Path, FileLock] = {}


def _lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


def _staging_pattern(out: Path) -> re.Pattern[str]:
    """Names of the staging folders of ``out``: ``.OUT.partial-<pid>-<random>``."""
    return re.compile(re.escape(f".{out.name}.partial-") + r"(\d+)-[A-Za-z0-9_]{1,32}")


def _alive(pid: int) -> bool:
    """True when process ``pid`` runs (a zombie, already dead but not reaped, does not)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _sweep(out: Path) -> list[str]:
    """Remove the staging folders beside ``out`` left by runs whose process is gone (only
    called with ``out``'s lock held); returns their names."""
    pattern, removed = _staging_pattern(out), []
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return removed
    for entry in entries:
        found = pattern.fullmatch(entry.name)
        if found and entry.is_dir(follow_symlinks=False) and not _alive(int(found[1])):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
    return removed


def _take(out: Path, wait_lock: float | None) -> FileLock:
    """Lock ``out``; after a run that was killed, clear what it left behind."""
    lock = acquire_lock(_lock_path(out), subject=out, wait=wait_lock)
    try:
        removed = _sweep(out)
    except BaseException:
        lock.release()
        raise
    if lock.stale is not None or removed:
        who = f"a run ({lock.stale.describe()}) that" if lock.stale else "runs that"
        log.info(
            "%s: %s no longer runs left it locked; took it over and removed %d staging "
            "folder(s)%s",
            out, who, len(removed), f" ({', '.join(sorted(removed))})" if removed else "",
        )  # fmt: skip
    return lock


def open_workspace(config: RunConfig, *, wait_lock: float | None = None) -> Workspace:
    """Check that ``out`` may be written, lock it, and create a staging folder beside it.

    A second run into the same ``out`` raises :class:`OutputError` ``another run (pid N,
    started T) is writing OUT`` at once, or, with ``wait_lock`` (seconds), once that time
    has passed without the lock coming free. ``out`` is checked again once locked: a run
    that held it may have finished meanwhile.
    """
    out = preflight_output(config)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create its folder: {exc.strerror or exc}") from exc
    lock = _take(out, wait_lock)
    try:
        check_output(out, overwrite=config.overwrite, inputs=config.inputs())
        prefix = f".{out.name}.partial-{os.getpid()}-"
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    except BaseException:
        lock.release()
        raise
    _LOCKS[staging] = lock
    make_dir_public(staging)
    return Workspace(
        out=out,
        staging=staging,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        overwrite=config.overwrite,
        inputs=tuple(config.inputs()),
    )


def _unlock(workspace: Workspace) -> None:
    lock = _LOCKS.pop(workspace.staging, None)
    if lock is not None:
        lock.release()


def discard(workspace: Workspace) -> None:
    """Remove the staging folder of a failed run and release ``out``."""
    shutil.rmtree(workspace.staging, ignore_errors=True)
    _unlock(workspace)


def _held(workspace: Workspace) -> FileLock:
    """This run's lock on ``out``, taken again if its file was removed during the run."""
    lock = _LOCKS.get(workspace.staging)
    if lock is not None and lock.still_named():
        return lock
    if lock is None:
        raise OutputError(
            f"{workspace.out}: this process does not hold the run's lock; a run is moved "
            "into place by the process that opened it"
        )
    fresh = acquire_lock(_lock_path(workspace.out), subject=workspace.out)
    lock.release()
    _LOCKS[workspace.staging] = fresh
    return fresh


def _move_into_place(staging: Path, out: Path) -> None:
    old = None
    if os.path.lexists(out):
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        out.rename(old)
    try:
        staging.rename(out)
    except OSError as exc:
        if old is not None:
            old.rename(out)
        raise OutputError(f"{out}: cannot move the run into place: {exc.strerror or exc}") from exc
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def finish(workspace: Workspace, run_json: dict[str, object]) -> Path:
    """Write ``run.json`` and move the staging folder into place as ``out``; returns the
    final ``run.json``. Under ``out``'s lock, ``out`` is checked again first (it may have
    changed during the run), so a run without ``overwrite`` never replaces what appeared
    meanwhile. On an error the staging folder stays for :func:`discard`."""
    _held(workspace)
    write_json(workspace.staging / RUN_JSON, run_json)
    out = check_output(workspace.out, overwrite=workspace.overwrite, inputs=workspace.inputs)
    _move_into_place(workspace.staging, out)
    _unlock(workspace)
    return out / RUN_JSON
