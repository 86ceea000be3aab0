"""Fetch a registered dataset into a local cache, verified against its pinned sha256.

:func:`fetch_dataset` returns a folder laid out like the official site (``<cache>/<name>/
train-images-idx3-ubyte.gz`` ...), which :meth:`IdxSource.from_folder` opens. The files come
from, in order:

1. the cache, if every file there verifies (a ``.verified.json`` marker keyed by size and
   mtime saves rehashing unchanged files);
2. a mirror folder (``mirror=`` or ``DATAQUAL_MIRROR``) holding ``<mirror>/<name>/<file>`` or
   ``<mirror>/<file>``; files are verified and copied into the cache, the mirror is only read;
3. the dataset's URLs (or ``base_url`` / ``DATAQUAL_DOWNLOAD_BASE_URL``) over HTTP(S) with the
   stdlib: socket timeouts, retries with exponential backoff, resume of a partial
   ``<file>.part`` via HTTP Range, and an atomic rename to the final name only after the
   sha256 matches. A file that fails its checksum is moved to ``<file>.bad``.

Offline (``offline=True`` or ``DATAQUAL_OFFLINE=1``), or when every source fails, the
:class:`~dataqual.errors.DownloadError` lists the missing files, their URLs and checksums, and
where to put them.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataqual import __version__
from dataqual.errors import ConfigError, DownloadError
from dataqual.ingest.registry import DatasetFile, DatasetInfo, get_dataset, sha256_file

try:  # POSIX only; without it concurrent fetches of one dataset are not serialised.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ENV_BASE_URL",
    "ENV_CACHE_DIR",
    "ENV_MIRROR",
    "ENV_OFFLINE",
    "DownloadSettings",
    "default_cache_dir",
    "fetch_dataset",
    "file_urls",
]

logger = logging.getLogger(__name__)

ENV_CACHE_DIR = "DATAQUAL_CACHE_DIR"
ENV_MIRROR = "DATAQUAL_MIRROR"
ENV_BASE_URL = "DATAQUAL_DOWNLOAD_BASE_URL"
ENV_OFFLINE = "DATAQUAL_OFFLINE"

_MARKER = ".verified.json"
_CHUNK = 1 << 20
_USER_AGENT = f"dataqual/{__version__} (+python-urllib)"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """``$DATAQUAL_CACHE_DIR`` if set, else ``~/.cache/dataqual``."""
    env = os.environ if env is None else env
    value = env.get(ENV_CACHE_DIR, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "dataqual"


class DownloadSettings(BaseModel):
    """Where datasets are cached and how they are fetched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Datasets are kept in ``<cache_dir>/<name>/``."""
    mirror: Path | None = None
    """Local folder with ``<name>/<file>`` or ``<file>``, tried before the network."""
    base_url: str | None = None
    """Replaces the registry's URLs: ``{name}`` and ``{file}`` are substituted, and
    ``/{file}`` is appended when the template has no ``{file}``."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds any single connect or read may wait before the attempt fails."""
    retries: int = Field(default=3, ge=0)
    """Further attempts per URL after a transient failure (timeout, reset, 5xx)."""
    backoff: float = Field(default=1.0, ge=0)
    """Wait before the first retry, doubled for each further one."""
    max_backoff: float = Field(default=30.0, ge=0)
    offline: bool = False
    """Never touch the network: use the cache and the mirror only."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> DownloadSettings:
        """Settings from the ``DATAQUAL_*`` environment variables; non-None ``overrides`` win."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {"cache_dir": default_cache_dir(env)}
        if mirror := env.get(ENV_MIRROR, "").strip():
            values["mirror"] = Path(mirror).expanduser()
        if base := env.get(ENV_BASE_URL, "").strip():
            values["base_url"] = base
        offline = env.get(ENV_OFFLINE, "").strip().lower()
        if offline not in _TRUE | _FALSE:
            raise ConfigError(
                f"{ENV_OFFLINE}={env[ENV_OFFLINE]!r} is not a boolean; use 1/0, true/false"
            )
        values["offline"] = offline in _TRUE
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(f"invalid download settings: {exc}") from exc


def file_urls(info: DatasetInfo, file: DatasetFile, base_url: str | None = None) -> list[str]:
    """URLs to try for ``file``, in order: the registry's, or the single ``base_url`` one."""
    if not base_url:
        return list(file.urls)
    template = base_url if "{file}" in base_url else base_url.rstrip("/") + "/{file}"
    return [template.replace("{name}", info.name).replace("{file}", file.name)]


# --------------------------------------------------------------------------- cache


class _Marker:
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
def _locked(folder: Path) -> Iterator[None]:
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


def _set_aside(path: Path) -> Path:
    """Move a file that failed its checksum to ``<name>.bad`` so it never looks valid."""
    bad = path.with_name(path.name.removesuffix(".part") + ".bad")
    os.replace(path, bad)
    return bad


# --------------------------------------------------------------------------- mirror


def _from_mirror(
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
                while chunk := fin.read(_CHUNK):
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


# --------------------------------------------------------------------------- HTTP


class _Transient(Exception):
    """Worth retrying the same URL (timeout, reset, truncated body, 5xx, 429)."""


class _Permanent(Exception):
    """Retrying this URL will not help (404, 403, wrong size): try the next one."""


def _http_get(url: str, part: Path, file: DatasetFile, timeout: float) -> int:
    """Fetch ``url`` into ``part``, resuming from its current size. Returns the offset the
    transfer started at (0 for a fresh download); the caller verifies the result."""
    offset = part.stat().st_size if part.exists() else 0
    if offset > file.size:
        part.unlink()
        offset = 0
    if offset == file.size:
        return offset
    request = urllib.request.Request(
        url, headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    )
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            part.unlink()
            raise _Transient("server refused to resume (HTTP 416); restarting") from exc
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from exc
        raise _Permanent(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _Transient(f"cannot connect: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__}: {exc or 'timed out'}") from exc
    with response:
        if offset and response.status == 206:
            m = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not m or int(m[1]) != offset:
                part.unlink()
                raise _Transient(
                    f"server answered the resume with range "
                    f"{response.headers.get('Content-Range')!r}; restarting"
                )
            mode = "ab"
        else:
            if offset:
                logger.info("%s: server ignored the Range request, downloading from 0", url)
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        if (
            length is not None
            and re.fullmatch(r"[0-9]{1,18}", length)  # not str.isdigit: "²" is a digit too
            and offset + int(length) != file.size
        ):
            raise _Permanent(
                f"server is sending {offset + int(length)} bytes, expected {file.size}"
            )
        written = offset
        try:
            with part.open(mode) as out:
                while chunk := response.read(_CHUNK):
                    written += len(chunk)
                    if written > file.size:
                        break
                    out.write(chunk)
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(
                f"transfer broke off after {written} of {file.size} bytes "
                f"({type(exc).__name__}: {exc or 'timed out'})"
            ) from exc
    if written > file.size:
        part.unlink()
        raise _Permanent(f"server sent more than the expected {file.size} bytes")
    if written < file.size:
        raise _Transient(f"connection closed after {written} of {file.size} bytes")
    return offset


def _download(
    info: DatasetInfo,
    file: DatasetFile,
    dest: Path,
    settings: DownloadSettings,
    problems: list[str],
) -> bool:
    """Download ``file`` to ``dest`` from its URLs with retries; True once it verifies."""
    part = dest.with_name(dest.name + ".part")
    for url in file_urls(info, file, settings.base_url):
        attempt, restarted = 0, False
        while attempt <= settings.retries:
            if attempt:
                delay = min(settings.backoff * 2 ** (attempt - 1), settings.max_backoff)
                logger.info(
                    "retrying %s in %.1f s (attempt %d of %d)",
                    url,
                    delay,
                    attempt + 1,
                    settings.retries + 1,
                )
                time.sleep(delay)
            attempt += 1
            logger.info("downloading %s", url)
            try:
                started_at = _http_get(url, part, file, settings.timeout)
            except _Permanent as exc:
                problems.append(f"{url}: {exc}")
                logger.warning("%s: %s", url, exc)
                break
            except _Transient as exc:
                problems.append(f"{url} (attempt {attempt}): {exc}")
                logger.warning("%s (attempt %d): %s", url, attempt, exc)
                continue
            digest = sha256_file(part)
            if digest == file.sha256:
                os.replace(part, dest)
                logger.info("verified %s (sha256 %s)", dest, digest)
                return True
            bad = _set_aside(part)
            problems.append(
                f"{url}: sha256 {digest} does not match the pinned {file.sha256} "
                f"(set aside as {bad})"
            )
            logger.warning("%s: checksum mismatch, set aside as %s", url, bad)
            if not started_at or restarted:
                break  # a fresh copy is wrong: this URL serves another file
            # The resumed part may have been stale: one free retry of this URL from scratch.
            restarted = True
            attempt -= 1
    return False


# --------------------------------------------------------------------------- entry point


def _instructions(
    info: DatasetInfo, missing: list[DatasetFile], target: Path, settings: DownloadSettings
) -> str:
    lines = [f"To fix it, download these files of {info.name!r} ({info.homepage}):"]
    for f in missing:
        lines.append(f"  {f.name}  ({f.size} bytes, sha256 {f.sha256})")
        urls = dict.fromkeys([*file_urls(info, f, settings.base_url), *f.urls])
        lines.extend(f"    {url}" for url in urls)
    mirror = settings.mirror or Path("MIRROR")
    lines.append(
        f"and put them in the cache folder {target}, or in a mirror folder as "
        f"{mirror}/{info.name}/<file> and pass --mirror {mirror} (mirror= in Python) "
        f"or set {ENV_MIRROR}={mirror}."
    )
    return "\n".join(lines)


def fetch_dataset(
    name: str | DatasetInfo,
    *,
    cache_dir: str | Path | None = None,
    mirror: str | Path | None = None,
    base_url: str | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    offline: bool | None = None,
    settings: DownloadSettings | None = None,
) -> Path:
    """Make the dataset's official files available locally, verified, and return their folder.

    ``name`` is a registered name (``mnist``, ``fashion-mnist``, ``kmnist``) or a
    :class:`DatasetInfo`. Keyword arguments that are not None override ``settings``, which
    default to :meth:`DownloadSettings.from_env`. Raises DownloadError naming every file that
    could not be fetched, the URLs tried and what failed, and how to provide the files by hand.
    """
    info = name if isinstance(name, DatasetInfo) else get_dataset(name)
    overrides = {
        "cache_dir": cache_dir,
        "mirror": mirror,
        "base_url": base_url,
        "timeout": timeout,
        "retries": retries,
        "offline": offline,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if settings is None:
        settings = DownloadSettings.from_env(**overrides)
    elif overrides:
        try:
            settings = DownloadSettings(**{**settings.model_dump(), **overrides})
        except ValidationError as exc:
            raise ConfigError(f"invalid download settings: {exc}") from exc
    target = Path(settings.cache_dir).expanduser() / info.name

    marker = _Marker(target)
    missing = [f for f in info.files if not marker.verified(target / f.name, f)]
    if not missing:
        marker.save()
        logger.debug("%s: all %d files verified in %s", info.name, len(info.files), target)
        return target

    try:
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(target, os.W_OK):
            raise PermissionError("the folder is not writable")
    except OSError as exc:
        raise DownloadError(
            f"cannot write the cache folder {target} for dataset {info.name!r} "
            f"({len(missing)} files to fetch): {exc}; set {ENV_CACHE_DIR} or pass cache_dir= "
            f"to a writable folder"
        ) from exc
    if settings.mirror is not None and not Path(settings.mirror).is_dir():
        raise ConfigError(
            f"mirror folder {settings.mirror} does not exist; expected a folder holding "
            f"{info.name}/<file> (fix or unset mirror= / {ENV_MIRROR})"
        )

    failures: dict[str, list[str]] = {}
    use_network = not settings.offline
    with _locked(target):
        for file in list(missing):
            dest = target / file.name
            if marker.verified(dest, file):  # another process fetched it meanwhile
                missing.remove(file)
                continue
            if dest.exists():
                logger.warning("%s fails its checksum, set aside as %s", dest, _set_aside(dest))
            problems: list[str] = []
            ok = settings.mirror is not None and _from_mirror(
                Path(settings.mirror), info, file, dest, problems
            )
            if not ok and use_network:
                ok = _download(info, file, dest, settings, problems)
                # Once the network failed for one file, do not wait out the others too.
                use_network = ok
            if ok:
                marker.record(dest, file)
                missing.remove(file)
            else:
                failures[file.name] = problems
        marker.save()

    if not missing:
        return target
    if settings.offline:
        reason = f"offline mode and {len(missing)} of {len(info.files)} files are not in {target}"
        if settings.mirror is None:
            reason += " and no mirror folder is set"
    else:
        reason = f"{len(missing)} of {len(info.files)} files are missing from {target}"
    details = [
        f"  {n}:\n" + "\n".join(f"    {line}" for line in p) for n, p in failures.items() if p
    ]
    raise DownloadError(
        "\n".join(
            [
                f"cannot fetch dataset {info.name!r}: {reason}.",
                *details,
                _instructions(info, missing, target, settings),
            ]
        )
    )
