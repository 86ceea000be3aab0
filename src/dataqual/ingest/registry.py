"""Well-known MNIST-style datasets by name, with pinned checksums and expected counts.

Each :class:`DatasetInfo` says where the official files live (a primary URL and fallback
mirrors), the sha256 and size of every file as downloaded, and what a correct copy holds:
image shape, class names, rows per split and, where published, rows per label. The
checksums let :mod:`dataqual.ingest.download` verify what it fetches, and let
:func:`identify_files` recognise an official dataset in a plain ``--source`` folder so that
validation can compare it with the expected counts.

Provenance of the pinned checksums (every value was checked, none is made up):

- **mnist**, **fashion-mnist**: sha256 of the ``.gz`` files computed with ``sha256sum`` over
  ``/work/shared/datasets/{mnist,fashion-mnist}``, whose gz md5 values match the published
  ones (the md5s torchvision pins). They also equal the sha256 values pinned by
  tensorflow/datasets in ``tensorflow_datasets/url_checksums/mnist.txt`` (commit 31f1255e)
  and ``.../fashion_mnist.txt`` (commit 333639b3). The sha256 of the uncompressed IDX
  content comes from ``/work/shared/datasets/README.md`` and was recomputed with
  ``zcat FILE | sha256sum``.
- **kmnist**: sha256 and sizes from tensorflow/datasets
  ``tensorflow_datasets/url_checksums/kmnist.txt`` (commit 333639b3). No published sha256
  of the uncompressed files was found, so KMNIST is recognised from its ``.gz`` files only.
- **emnist-digits** is not listed: NIST ships EMNIST only inside one 562 MB ``gzip.zip``
  (tensorflow/datasets pins that archive, sha256 fb9bb67e…), and no pinned checksum of the
  individual ``emnist-digits-*.gz`` files was found.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from dataqual.errors import ConfigError
from dataqual.ingest.dataset_info import DatasetFile, DatasetInfo, file_role, role_pattern
from dataqual.ingest.known_datasets import FASHION_MNIST, KMNIST, MNIST

__all__ = [
    "DATASETS",
    "DatasetFile",
    "DatasetInfo",
    "file_role",
    "get_dataset",
    "identify_files",
    "register_dataset",
    "sha256_file",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20

_REGISTRY: dict[str, DatasetInfo] = {d.name: d for d in (MNIST, FASHION_MNIST, KMNIST)}

#: Read-only view of the registered datasets by name.
DATASETS: Mapping[str, DatasetInfo] = MappingProxyType(_REGISTRY)


def get_dataset(name: str) -> DatasetInfo:
    """The registered dataset called ``name`` (case-insensitive); ConfigError listing the
    known names otherwise."""
    info = _REGISTRY.get(name.strip().lower())
    if info is None:
        raise ConfigError(
            f"unknown dataset {name!r}; known datasets: {', '.join(sorted(_REGISTRY))}"
        )
    return info


def register_dataset(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Add a dataset to the registry (for in-house datasets); refuses to shadow one silently."""
    if info.name in _REGISTRY and not replace and _REGISTRY[info.name] != info:
        raise ConfigError(
            f"dataset {info.name!r} is already registered; pass replace=True to replace it"
        )
    _REGISTRY[info.name] = info
    return info


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _expand(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files to identify: folders are replaced by their standard-named IDX files."""
    if isinstance(paths, str | Path):
        paths = [paths]
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(
                e for e in sorted(p.iterdir()) if e.is_file() and role_pattern().match(e.name)
            )
        else:
            out.append(p)
    return out


def identify_files(
    paths: str | Path | Iterable[str | Path], datasets: Iterable[DatasetInfo] | None = None
) -> DatasetInfo | None:
    """The known dataset that every given file belongs to, recognised by sha256, else None.

    Each file must match a registered file byte for byte, as downloaded (``.gz``) or, where
    the registry knows it, uncompressed. All files must come from the same dataset, and a
    file whose name says ``train``/``test``, ``images``/``labels`` must hold that content
    (so swapped files are not taken for the official ones). A folder stands for the IDX
    files in it. Files of unknown sizes are rejected without being hashed.
    """
    candidates = tuple(_REGISTRY.values() if datasets is None else datasets)
    files = _expand(paths)
    if not files:
        return None
    by_size: dict[int, list[tuple[DatasetInfo, DatasetFile, str]]] = {}
    for info in candidates:
        for f in info.files:
            by_size.setdefault(f.size, []).append((info, f, f.sha256))
            if f.raw_size is not None and f.raw_sha256 is not None:
                by_size.setdefault(f.raw_size, []).append((info, f, f.raw_sha256))
    found: DatasetInfo | None = None
    for path in files:
        if not path.is_file():
            return None
        options = by_size.get(path.stat().st_size)
        if not options:
            logger.debug("%s: size matches no known dataset file", path)
            return None
        digest = sha256_file(path)
        match = next(((i, f) for i, f, sha in options if sha == digest), None)
        if match is None:
            logger.debug("%s: sha256 %s matches no known dataset file", path, digest)
            return None
        info, known = match
        role = file_role(path.name)
        if role is not None and role != known.role:
            logger.warning(
                "%s holds the content of %s's %s but its name says %s %s",
                path,
                info.name,
                known.name,
                *role,
            )
            return None
        if found is not None and found.name != info.name:
            logger.debug("%s is from %s, other files are from %s", path, info.name, found.name)
            return None
        found = info
    if found is not None:
        logger.info("recognised %s from the sha256 of %d file(s)", found.name, len(files))
    return found
