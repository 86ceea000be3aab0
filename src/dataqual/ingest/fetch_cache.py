"""The download cache and the mirror: what is already verified, where a fetch waits for
another process, and copying a verified file from a local mirror folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dataqual.ingest.dataset_info import DatasetFile, DatasetInfo
from dataqual.ingest.registry import sha256_file

try:  # POSIX only; without it concurrent fetches of one dataset are not serialised.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["CHUNK", "VerifiedMarker", "from_mirror", "locked", "set_aside"]

logger = logging.getLogger(__name__)

_MARKER = ".verified.json"
#: Bytes read or written at a time.
CHUNK = 1 << 20


class VerifiedMarker:
    """``.verified.json``: file name -> size, mtime_ns and sha256 when last verified."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / _MARKER
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(self.path.read_text())
            if isinstance(data, dict):
                self.entries = {k: v for k, v in data.items() if isinstance(v, dict)}

    def verified(self, path: Path, file: DatasetFile) -> bool:
        """Whether ``path`` holds ``file``: trusted from the marker when size and mtime match."""
        try:
            st = path.stat()
        except OSError:
            return False
        if st.st_size != file.size:
            return False
        entry = self.entries.get(file.name, {})
        if entry == {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": file.sha256}:
            return True
        if sha256_file(path) != file.sha256:
            return False
        self.record(path, file)
        return True

    def record(self, path: Path, file: DatasetFile) -> None:
        st = path.stat()
        self.entries[file.name] = {
            "size": st.st_size,
            "mtime_ns": st.st_mtime_ns,
            "sha256": file.sha256,
        }
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
            os.replace(tmp, self.path)
        except OSError as exc:  # a read-only cache still works, it just rehashes
            logger.debug("cannot write %s: %s", self.path, exc)


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Serialise fetches of one dataset between processes (best effort, POSIX)."""
    if fcntl is None:
        yield
        return
    try:
        handle = (folder / ".lock").open("a")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def set_aside(path: Path) -> Path:
    """Move a file that failed its checksum to ``<name>.bad`` so it never looks valid."""
    bad = path.with_name(path.name.removesuffix(".part") + ".bad")
    os.replace(path, bad)
    return bad


def from_mirror(
    mirror: Path, info: DatasetInfo, file: DatasetFile, dest: Path, problems: list[str]
) -> bool:
    """Copy ``file`` from the mirror into ``dest`` if a copy there verifies."""
    for src in (mirror / info.name / file.name, mirror / file.name):
        if not src.is_file():
            continue
        size = src.stat().st_size
        if size != file.size:
            problems.append(f"mirror file {src} has {size} bytes, expected {file.size}")
            continue
        tmp = dest.with_name(f".{dest.name}.mirror-tmp")
        digest = hashlib.sha256()
        try:
            with src.open("rb") as fin, tmp.open("wb") as fout:
                while chunk := fin.read(CHUNK):
                    digest.update(chunk)
                    fout.write(chunk)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            problems.append(f"cannot copy mirror file {src}: {exc}")
            continue
        if digest.hexdigest() != file.sha256:
            tmp.unlink()
            problems.append(
                f"mirror file {src} has sha256 {digest.hexdigest()}, expected {file.sha256}"
            )
            continue
        os.replace(tmp, dest)
        logger.info("copied %s from mirror %s", file.name, src)
        return True
    if not problems:
        problems.append(
            f"not in mirror (looked for {mirror / info.name / file.name} and {mirror / file.name})"
        )
    return False
