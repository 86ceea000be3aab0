"""The run key: one sha256 that says whether a run would redo work already done.

A run key covers what decides a run's outputs: the sha256 of every source file, the
sha256 of every suite file, the run options (:meth:`RunConfig.model_dump` without the
options that only say where or how to write: ``out``, ``overwrite``, ``notify``,
``wait_lock``, ``workers``, ``plugins`` order; paths as absolute strings) and dataqual's
version. Two runs with equal keys produce the same validation, shards and reports.

A scheduled run stores its key in ``RUN_DIR/runkey.json`` (:func:`write_key`) after the
run succeeded; :func:`key_of_run` reads it back. A folder without that file (a one-shot
``dataqual run``, an older dataqual) has no key and is never treated as the same work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dataqual import __version__
from dataqual.config import RunConfig
from dataqual.files import sha256_file, write_json

__all__ = [
    "RUNKEY",
    "key_of_run",
    "run_key",
    "run_options",
    "source_files",
    "suite_files",
    "write_key",
]

#: The file a scheduled run writes into its run folder: ``{"key": ..., "options": ...}``.
RUNKEY = "runkey.json"
#: Options that say where or how to write, not what is written.
_NOT_OUTPUTS = frozenset({"out", "overwrite", "notify", "wait_lock", "workers"})


def _plain(value: Any) -> Any:
    """``value`` as JSON-ready data with paths as absolute strings."""
    if isinstance(value, Path):
        return str(value.absolute())
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def run_options(config: RunConfig) -> dict[str, Any]:
    """The options of ``config`` that change a run's outputs, as plain JSON data."""
    options = {k: v for k, v in config.model_dump().items() if k not in _NOT_OUTPUTS}
    options["plugins"] = sorted(options.get("plugins") or [])
    return _plain(options)


def suite_files(suites_dir: Path | None) -> list[Path]:
    """The suite files a run with ``suites_dir`` loads (default: the shipped suites)."""
    from dataqual.validate.suites import default_suites_dir

    folder = Path(suites_dir) if suites_dir else default_suites_dir()
    return sorted(folder.glob("*.json"))


def source_files(config: RunConfig) -> list[Path]:
    """The files a run of ``config`` reads its data from, as its reader lists them (for a
    registered dataset: its verified cache files, fetched first when missing)."""
    from dataqual.ingest import open_source

    if config.dataset is not None:
        from dataqual.ingest.download import fetch_dataset

        location = fetch_dataset(config.dataset, cache_dir=config.cache_dir, mirror=config.mirror)
        return list(open_source(location, "idx", **config.source_options()).files())
    assert config.source is not None
    source = open_source(config.source, config.format, **config.source_options())
    return list(source.files())


def _digests(files: Iterable[Path]) -> list[str]:
    """The sha256 of each file, in a stable order (by absolute path)."""
    return [sha256_file(p) for p in sorted(Path(f).absolute() for f in files)]


def run_key(config: RunConfig, files: list[Path], suites_dir: Path | None = None) -> str:
    """The run key of ``config`` reading ``files``, with the suites of ``suites_dir``
    (default: ``config.suites_dir``, else the shipped suites)."""
    suites = suite_files(suites_dir if suites_dir is not None else config.suites_dir)
    material = {
        "files": _digests(files),
        "suites": _digests(suites),
        "options": run_options(config),
        "dataqual_version": __version__,
    }
    text = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def write_key(run_dir: Path, key: str, config: RunConfig | None = None) -> Path:
    """Record ``key`` (and the options it covers) in ``RUN_DIR/runkey.json``, atomically."""
    data: dict[str, Any] = {"key": key, "dataqual_version": __version__}
    if config is not None:
        data["options"] = run_options(config)
    return write_json(Path(run_dir) / RUNKEY, data)


def key_of_run(run_dir: Path | None) -> str | None:
    """The run key a finished run recorded, or None (no folder, no or unreadable record)."""
    if run_dir is None:
        return None
    try:
        key = json.loads((Path(run_dir) / RUNKEY).read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return key if isinstance(key, str) else None
