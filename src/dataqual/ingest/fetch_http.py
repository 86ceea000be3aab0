"""One HTTP(S) transfer of a dataset file into ``<file>.part``, resumed with a Range
request when part of it is there, with the stdlib only. Failures say whether retrying the
same URL can help (:class:`Transient`) or not (:class:`Permanent`)."""

from __future__ import annotations

import http.client
import logging
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dataqual import __version__
from dataqual.ingest.dataset_info import DatasetFile
from dataqual.ingest.fetch_cache import CHUNK

__all__ = ["Permanent", "Transient", "http_get"]

logger = logging.getLogger(__name__)

_USER_AGENT = f"dataqual/{__version__} (+python-urllib)"
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class Transient(Exception):
    """Worth retrying the same URL (timeout, reset, truncated body, 5xx, 429)."""


class Permanent(Exception):
    """Retrying this URL will not help (404, 403, wrong size): try the next one."""


def _open(url: str, part: Path, offset: int, timeout: float) -> Any:
    """The response to a GET of ``url`` from ``offset``."""
    request = urllib.request.Request(
        url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    )
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            part.unlink()
            raise Transient("server refused to resume (HTTP 416); restarting") from exc
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise Permanent(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise Transient(f"cannot connect: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise Transient(f"{type(exc).__name__}: {exc or 'timed out'}") from exc


def _start(url: str, response: Any, part: Path, offset: int, file: DatasetFile) -> int:
    """Where the body starts in the file: ``offset`` when the server resumes, else 0."""
    if offset and response.status == 206:
        m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if not m or int(m[1]) != offset:
            part.unlink()
            raise Transient(
                f"server answered the resume with range "
                f"{response.headers.get('Content-Range')!r}; restarting"
            )
        start = offset
    else:
        if offset:
            logger.info("%s: server ignored the Range request, downloading from 0", url)
        start = 0
    length = response.headers.get("Content-Length")
    if (
        length is not None
        and re.fullmatch(r"[0-9]{1,18}", length)  # not str.isdigit: "²" is a digit too
        and start + int(length) != file.size
    ):
        raise Permanent(f"server is sending {start + int(length)} bytes, expected {file.size}")
    return start


def _write(response: Any, part: Path, start: int, file: DatasetFile) -> int:
    """Write the body after ``start`` bytes of ``part``; the bytes the file then holds (one
    chunk more than expected when the server sends too much)."""
    written = start
    try:
        with part.open("ab" if start else "wb") as out:
            while chunk := response.read(CHUNK):
                written += len(chunk)
                if written > file.size:
                    break
                out.write(chunk)
    except (OSError, http.client.HTTPException) as exc:
        raise Transient(
            f"transfer broke off after {written} of {file.size} bytes "
            f"({type(exc).__name__}: {exc or 'timed out'})"
        ) from exc
    return written


def http_get(url: str, part: Path, file: DatasetFile, timeout: float) -> int:
    """Fetch ``url`` into ``part``, resuming from its current size. Returns the offset the
    transfer started at (0 for a fresh download); the caller verifies the result."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > file.size:
        part.unlink()
        offset = 0
    if offset == file.size:
        return offset
    with _open(url, part, offset, timeout) as response:
        offset = _start(url, response, part, offset, file)
        written = _write(response, part, offset, file)
    if written > file.size:
        part.unlink()
        raise Permanent(f"server sent more than the expected {file.size} bytes")
    if written < file.size:
        raise Transient(f"connection closed after {written} of {file.size} bytes")
    return offset
