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
where to put them. The cache and mirror live in :mod:`.fetch_cache`, one HTTP transfer
in :mod:`.fetch_http`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataqual.errors import ConfigError, DownloadError
from dataqual.ingest.fetch_cache import VerifiedMarker, from_mirror, locked, set_aside
from dataqual.ingest.fetch_http import Permanent, Transient, http_get
from dataqual.ingest.registry import DatasetFile, DatasetInfo, get_dataset, sha256_file

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

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


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


def _verified(url: str, part: Path, dest: Path, file: DatasetFile, problems: list[str]) -> bool:
    """Move a downloaded ``part`` to ``dest`` if its sha256 is the pinned one, else set it
    aside as ``<file>.bad`` and say so in ``problems``."""
    digest = sha256_file(part)
    if digest == file.sha256:
        os.replace(part, dest)
        logger.info("verified %s (sha256 %s)", dest, digest)
        return True
    bad = set_aside(part)
    problems.append(
        f"{url}: sha256 {digest} does not match the pinned {file.sha256} (set aside as {bad})"
    )
    logger.warning("%s: checksum mismatch, set aside as %s", url, bad)
    return False


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
                started_at = http_get(url, part, file, settings.timeout)
            except Permanent as exc:
                problems.append(f"{url}: {exc}")
                logger.warning("%s: %s", url, exc)
                break
            except Transient as exc:
                problems.append(f"{url} (attempt {attempt}): {exc}")
                logger.warning("%s (attempt %d): %s", url, attempt, exc)
                continue
            if _verified(url, part, dest, file, problems):
                return True
            if not started_at or restarted:
                break  # a fresh copy is wrong: this URL serves another file
            # The resumed part may have been stale: one free retry of this URL from scratch.
            restarted = True
            attempt -= 1
    return False


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


def _settings(settings: DownloadSettings | None, overrides: dict[str, Any]) -> DownloadSettings:
    """``settings`` (default: from the environment) with the non-None ``overrides``."""
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if settings is None:
        return DownloadSettings.from_env(**overrides)
    if not overrides:
        return settings
    try:
        return DownloadSettings(**{**settings.model_dump(), **overrides})
    except ValidationError as exc:
        raise ConfigError(f"invalid download settings: {exc}") from exc


def _writable_cache(
    target: Path, info: DatasetInfo, missing: int, settings: DownloadSettings
) -> None:
    """Create the cache folder; refuse an unwritable one, and a mirror that is not there."""
    try:
        target.mkdir(parents=True, exist_ok=True)
        if not os.access(target, os.W_OK):
            raise PermissionError("the folder is not writable")
    except OSError as exc:
        raise DownloadError(
            f"cannot write the cache folder {target} for dataset {info.name!r} "
            f"({missing} files to fetch): {exc}; set {ENV_CACHE_DIR} or pass cache_dir= "
            f"to a writable folder"
        ) from exc
    if settings.mirror is not None and not Path(settings.mirror).is_dir():
        raise ConfigError(
            f"mirror folder {settings.mirror} does not exist; expected a folder holding "
            f"{info.name}/<file> (fix or unset mirror= / {ENV_MIRROR})"
        )


def _fetch_missing(
    info: DatasetInfo,
    missing: list[DatasetFile],
    target: Path,
    marker: VerifiedMarker,
    settings: DownloadSettings,
) -> dict[str, list[str]]:
    """Fetch each missing file (mirror, then network), removing it from ``missing`` once
    verified; what went wrong per file that is still missing."""
    failures: dict[str, list[str]] = {}
    use_network = not settings.offline
    for file in list(missing):
        dest = target / file.name
        if marker.verified(dest, file):  # another process fetched it meanwhile
            missing.remove(file)
            continue
        if dest.exists():
            logger.warning("%s fails its checksum, set aside as %s", dest, set_aside(dest))
        problems: list[str] = []
        ok = settings.mirror is not None and from_mirror(
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
    return failures


def _failure(
    info: DatasetInfo,
    missing: list[DatasetFile],
    failures: dict[str, list[str]],
    target: Path,
    settings: DownloadSettings,
) -> DownloadError:
    """The error naming every file still missing, what failed, and how to fix it."""
    if settings.offline:
        reason = f"offline mode and {len(missing)} of {len(info.files)} files are not in {target}"
        if settings.mirror is None:
            reason += " and no mirror folder is set"
    else:
        reason = f"{len(missing)} of {len(info.files)} files are missing from {target}"
    details = [
        f"  {n}:\n" + "\n".join(f"    {line}" for line in p) for n, p in failures.items() if p
    ]
    lines = [f"cannot fetch dataset {info.name!r}: {reason}.", *details]
    return DownloadError("\n".join([*lines, _instructions(info, missing, target, settings)]))


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
    overrides = {"cache_dir": cache_dir, "mirror": mirror, "base_url": base_url}
    overrides |= {"timeout": timeout, "retries": retries, "offline": offline}
    settings = _settings(settings, overrides)
    target = Path(settings.cache_dir).expanduser() / info.name
    marker = VerifiedMarker(target)
    missing = [f for f in info.files if not marker.verified(target / f.name, f)]
    if not missing:
        marker.save()
        logger.debug("%s: all %d files verified in %s", info.name, len(info.files), target)
        return target
    _writable_cache(target, info, len(missing), settings)
    with locked(target):
        failures = _fetch_missing(info, missing, target, marker, settings)
        marker.save()
    if missing:
        raise _failure(info, missing, failures, target, settings)
    return target
