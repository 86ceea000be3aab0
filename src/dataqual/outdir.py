"""Where a run may write: the checks that keep ``--out`` (and ``--overwrite``) from ever
deleting what is not a dataqual run.

A run replaces ``out`` only when it is absent, an empty folder, or a folder holding a
dataqual ``run.json`` (a previous run). ``out`` must not be, lie inside, or contain any
input of the run (source, reference, suites, spec, mirror). Comparisons go through
``os.path.samefile`` on every existing ancestor, so they see through symbolic links and
follow the filesystem's own case rules (a case-insensitive volume resolves ``Data`` and
``data`` to the same folder).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable
from pathlib import Path

from dataqual.errors import OutputError

__all__ = ["RUN_JSON", "check_output", "is_previous_run"]

#: The file that marks a folder as a dataqual run.
RUN_JSON = "run.json"
_RUN_KEYS = {"status", "exit_code", "dataqual_version"}


def is_previous_run(folder: Path) -> bool:
    """True when ``folder`` holds a ``run.json`` written by dataqual (a regular file whose
    JSON object has the keys every run writes)."""
    marker = Path(folder) / RUN_JSON
    try:
        if marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 1 << 20:
            return False
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.keys() >= _RUN_KEYS


def _ancestors(path: Path) -> list[Path]:
    """``path`` and its parents that exist, nearest first (``path`` itself may not exist)."""
    return [p for p in (path, *path.parents) if os.path.lexists(p)]


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _within(inner: Path, outer: Path) -> bool:
    """True when ``inner`` is ``outer`` or lies inside it (links and case resolved)."""
    return os.path.lexists(outer) and any(_same(p, outer) for p in _ancestors(inner))


def _conflict(out: Path, inputs: Iterable[Path]) -> str | None:
    for given in inputs:
        path = Path(given).absolute()
        if not os.path.lexists(path):
            continue
        if _within(out, path):
            what = "is" if _same(out, path) else "lies inside"
            return f"{what} the input {given}; a run's output cannot hold or replace its input"
        if _within(path, out):
            return f"contains the input {given}; --overwrite would delete it"
    return None


def _describe(entries: list[str]) -> str:
    shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
    return f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} ({shown})"


def check_output(out: Path, *, overwrite: bool, inputs: Iterable[Path] = ()) -> Path:
    """Return ``out`` as an absolute path if a run may write it, else raise
    :class:`OutputError` naming the path and what would be lost.

    Called in preflight and again just before the finished run replaces ``out``.
    """
    out = Path(out).absolute()
    try:
        problem = _conflict(out, inputs)
        if problem:
            raise OutputError(f"{out}: {problem}")
        for parent in out.parents:
            if os.path.lexists(parent):
                if not parent.is_dir():
                    raise OutputError(f"{out}: its parent {parent} is a file, not a folder")
                break
        if out.is_symlink():
            raise OutputError(
                f"{out}: is a symbolic link; give the folder it points to "
                f"({os.path.realpath(out)}) or another --out"
            )
        if not os.path.lexists(out):
            return out
        if not out.is_dir():
            raise OutputError(f"{out}: exists and is not a folder")
        entries = sorted(os.listdir(out))
    except OSError as exc:
        if isinstance(exc, OutputError):
            raise
        if exc.errno == errno.ENAMETOOLONG:
            raise OutputError(f"{out}: path is too long for this system") from exc
        raise OutputError(f"{out}: cannot use as output: {exc.strerror or exc}") from exc
    if not entries:
        return out
    if not overwrite:
        raise OutputError(f"{out}: folder is not empty; choose another --out or pass --overwrite")
    if not is_previous_run(out):
        raise OutputError(
            f"{out}: holds {_describe(entries)} and no dataqual {RUN_JSON}; --overwrite "
            "replaces only an earlier run's folder, so nothing was deleted"
        )
    return out
