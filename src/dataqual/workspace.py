"""The staging folder of a run: created beside ``out``, moved into place only at the end.

A run writes everything into a hidden staging folder next to ``out`` and renames it to
``out`` only when every stage has succeeded, so a failed or interrupted run leaves nothing
half-written. While it works it holds a lock beside ``out``, so a second run with the same
``out`` is refused instead of racing it. A :class:`Workspace` is a plain value (paths and
a time), so any stage in any process can write into it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dataqual.config import RunConfig
from dataqual.errors import OutputError
from dataqual.files import make_dir_public, write_json
from dataqual.outdir import RUN_JSON, check_output
from dataqual.summary import ARTEFACTS

__all__ = ["Workspace", "discard", "finish", "open_workspace", "preflight_output"]


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


#: Open lock files of the runs this process is writing, by staging folder.
_LOCKS: dict[Path, tuple[int, Path]] = {}


def _lock(out: Path) -> tuple[int, Path]:
    """Hold ``.OUT.lock`` beside ``out`` (an advisory ``flock``, released by the kernel if
    this process dies), so two runs never write the same ``out`` at once."""
    path = out.with_name(f".{out.name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise OutputError(
            f"{out}: another dataqual run (pid {holder}) is writing it; "
            "wait for it to finish or choose another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd, path


def _unlock(workspace: Workspace) -> None:
    held = _LOCKS.pop(workspace.staging, None)
    if held is not None:
        fd, path = held
        path.unlink(missing_ok=True)  # still holding it: no one else can take this inode
        os.close(fd)


def open_workspace(config: RunConfig) -> Workspace:
    """Check that ``out`` may be written, lock it, and create a staging folder beside it."""
    out = preflight_output(config)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{out}: cannot create its folder: {exc.strerror or exc}") from exc
    lock = _lock(out)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError:
        os.close(lock[0])
        lock[1].unlink(missing_ok=True)
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


def discard(workspace: Workspace) -> None:
    """Remove the staging folder of a failed run and release ``out``."""
    shutil.rmtree(workspace.staging, ignore_errors=True)
    _unlock(workspace)


def finish(workspace: Workspace, run_json: dict[str, object]) -> Path:
    """Write ``run.json`` and move the staging folder into place as ``out``; returns the
    final ``run.json``. ``out`` is checked again first: it may have changed during the run."""
    write_json(workspace.staging / RUN_JSON, run_json)
    out = check_output(workspace.out, overwrite=workspace.overwrite, inputs=workspace.inputs)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        out.rename(old)
    workspace.staging.rename(out)
    _unlock(workspace)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out / RUN_JSON
