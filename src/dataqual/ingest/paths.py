"""The one policy for what a reader may open or hash: regular files inside the source root.

Every reader and the lineage step go through :func:`file_problem` before an ``open()``:
a device (``/dev/zero``), FIFO or socket would block or never end; a dangling or looping
link cannot be read; and a link that resolves outside the source root would read (and
publish the checksum of) a file the user did not hand us. ``stat`` is the only call made
on the path itself, so no non-regular file is ever opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dataqual.errors import SourceError

__all__ = ["file_problem", "require_regular_file", "resolved_root"]

#: What a reader tells the user about the policy when it refuses a file.
POLICY_HINT = "only regular files inside the source are read"


def resolved_root(path: Path) -> Path:
    """The folder a source's files must stay inside, links resolved: the folder itself, or
    for a single file the folder of the file it resolves to (a file the user names is read
    even through a link; links *inside* a source folder may not lead out of it)."""
    real = Path(os.path.realpath(path))
    return real if real.is_dir() else real.parent


def file_problem(path: Path, root: Path | None = None) -> str | None:
    """Why ``path`` may not be read (None when it is a regular file inside ``root``).

    ``root`` must already be resolved (:func:`resolved_root`); None skips the inside check.
    """
    try:
        info = os.stat(path)  # follows links: a dangling or looping link raises here
    except OSError as exc:
        if os.path.islink(path):
            return "is a symbolic link that leads nowhere (dangling or looping)"
        if isinstance(exc, FileNotFoundError):
            return "no such file"
        return f"cannot be read: {exc.strerror or exc}"
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(info.st_mode)
            else "a socket"
            if stat.S_ISSOCK(info.st_mode)
            else "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "not a regular file"
        )
        return f"is {kind}, not a regular file"
    if root is not None:
        try:
            Path(os.path.realpath(path)).relative_to(root)
        except ValueError:
            return f"is a symbolic link leading outside {root}"
    return None


def require_regular_file(path: Path, root: Path | None = None) -> None:
    """Raise :class:`SourceError` naming ``path`` unless it is a regular file inside ``root``."""
    problem = file_problem(path, root)
    if problem is not None:
        raise SourceError(path, problem, hint=POLICY_HINT)
