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
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataqual.errors import ConfigError

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

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

_ROLE_RE = re.compile(
    r"^(?P<prefix>.+?)[-._](?P<kind>images|labels)[-._]idx[13][-._]ubyte(?:\.gz)?$"
)
_SPLITS = {"t10k": "test", "test": "test", "train": "train"}
_CHUNK = 1 << 20


class DatasetFile(BaseModel):
    """One file of a dataset, exactly as the official site serves it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    """File name as laid out on the official site, e.g. ``train-images-idx3-ubyte.gz``."""
    urls: tuple[str, ...] = Field(min_length=1)
    """Download URLs, primary first, then fallback mirrors."""
    sha256: Sha256
    """sha256 of the file as downloaded (the ``.gz``)."""
    size: int = Field(gt=0)
    """Size in bytes of the file as downloaded."""
    raw_sha256: Sha256 | None = None
    """sha256 of the uncompressed content, where known (recognises raw IDX copies)."""
    raw_size: int | None = Field(default=None, gt=0)
    """Size in bytes of the uncompressed content, where known."""

    @property
    def role(self) -> tuple[str, str] | None:
        """``(split, kind)`` this file holds, e.g. ``("train", "images")``."""
        return file_role(self.name)


class DatasetInfo(BaseModel):
    """A well-known dataset: where to get it, how to verify it, what a correct copy holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str
    license: str
    homepage: str
    files: tuple[DatasetFile, ...] = Field(min_length=1)
    class_names: tuple[str, ...] = Field(min_length=1)
    image_shape: tuple[int, int]
    split_rows: dict[str, int]
    """Expected record count per split (``train``, ``test``)."""
    label_counts: dict[str, tuple[int, ...]] = Field(default_factory=dict)
    """Expected records per label (index = label) per split, where published."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset {self.name!r} lists a file twice: {names}")
        for split, counts in self.label_counts.items():
            if split not in self.split_rows:
                raise ValueError(f"label counts for split {split!r}, which has no row count")
            if len(counts) != len(self.class_names):
                raise ValueError(
                    f"split {split!r} has {len(counts)} label counts for "
                    f"{len(self.class_names)} classes"
                )
            if sum(counts) != self.split_rows[split]:
                raise ValueError(
                    f"label counts of split {split!r} sum to {sum(counts)}, "
                    f"expected {self.split_rows[split]} rows"
                )
        return self

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def total_size(self) -> int:
        """Bytes to download for the whole dataset."""
        return sum(f.size for f in self.files)

    def file(self, name: str) -> DatasetFile:
        """The file called ``name``; ConfigError naming the known files otherwise."""
        for f in self.files:
            if f.name == name:
                return f
        known = ", ".join(f.name for f in self.files)
        raise ConfigError(f"dataset {self.name!r} has no file {name!r}; its files are: {known}")


def _files(
    templates: Iterable[str],
    specs: Iterable[tuple[str, int, str, int | None, str | None]],
) -> tuple[DatasetFile, ...]:
    """Build the file list from URL templates (``{file}`` = file name) and
    ``(name, size, sha256, raw_size, raw_sha256)`` specs."""
    templates = tuple(templates)
    return tuple(
        DatasetFile(
            name=name,
            urls=tuple(t.format(file=name) for t in templates),
            size=size,
            sha256=sha,
            raw_size=raw_size,
            raw_sha256=raw_sha,
        )
        for name, size, sha, raw_size, raw_sha in specs
    )


# Uncompressed sizes of 28x28 IDX files: 16-byte image header / 8-byte label header.
_RAW_TRAIN_IMAGES, _RAW_TRAIN_LABELS = 16 + 60_000 * 784, 8 + 60_000
_RAW_TEST_IMAGES, _RAW_TEST_LABELS = 16 + 10_000 * 784, 8 + 10_000

MNIST = DatasetInfo(
    name="mnist",
    description="MNIST: 70,000 28x28 grayscale images of handwritten digits 0-9.",
    license="CC BY-SA 3.0 (Yann LeCun, Corinna Cortes, Christopher J.C. Burges; from NIST data)",
    homepage="http://yann.lecun.com/exdb/mnist/",
    # The official site (yann.lecun.com) now often refuses downloads, so it comes last.
    files=_files(
        (
            "https://storage.googleapis.com/cvdf-datasets/mnist/{file}",
            "https://ossci-datasets.s3.amazonaws.com/mnist/{file}",
            "http://yann.lecun.com/exdb/mnist/{file}",
        ),
        # sha256 of the gz: sha256sum of /work/shared/datasets/mnist (= tfds mnist.txt);
        # raw sha256: /work/shared/datasets/README.md (= zcat | sha256sum).
        (
            (
                "train-images-idx3-ubyte.gz",
                9_912_422,
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                _RAW_TRAIN_IMAGES,
                "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                28_881,
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                _RAW_TRAIN_LABELS,
                "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                1_648_877,
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                _RAW_TEST_IMAGES,
                "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                4_542,
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                _RAW_TEST_LABELS,
                "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            ),
        ),
    ),
    class_names=tuple(str(d) for d in range(10)),
    image_shape=(28, 28),
    split_rows={"train": 60_000, "test": 10_000},
    label_counts={
        "train": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
        "test": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    },
)

FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    description="Fashion-MNIST: 70,000 28x28 grayscale images of Zalando articles, 10 classes.",
    license="MIT (Zalando SE)",
    homepage="https://github.com/zalandoresearch/fashion-mnist",
    files=_files(
        (
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{file}",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/{file}",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/{file}",
        ),
        # sha256 of the gz: sha256sum of /work/shared/datasets/fashion-mnist
        # (= tfds fashion_mnist.txt); raw sha256: /work/shared/datasets/README.md.
        (
            (
                "train-images-idx3-ubyte.gz",
                26_421_880,
                "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                _RAW_TRAIN_IMAGES,
                "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            ),
            (
                "train-labels-idx1-ubyte.gz",
                29_515,
                "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                _RAW_TRAIN_LABELS,
                "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                4_422_102,
                "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                _RAW_TEST_IMAGES,
                "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                5_148,
                "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                _RAW_TEST_LABELS,
                "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            ),
        ),
    ),
    class_names=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    image_shape=(28, 28),
    split_rows={"train": 60_000, "test": 10_000},
    label_counts={"train": (6000,) * 10, "test": (1000,) * 10},
)

KMNIST = DatasetInfo(
    name="kmnist",
    description=(
        "Kuzushiji-MNIST: 70,000 28x28 grayscale images of 10 cursive Japanese (Kuzushiji) "
        "hiragana characters, a drop-in replacement for MNIST."
    ),
    license="CC BY-SA 4.0 (ROIS-DS Center for Open Data in the Humanities)",
    homepage="http://codh.rois.ac.jp/kmnist/",
    files=_files(
        (
            "https://codh.rois.ac.jp/kmnist/dataset/kmnist/{file}",
            "http://codh.rois.ac.jp/kmnist/dataset/kmnist/{file}",
        ),
        # sha256 and sizes: tensorflow/datasets tensorflow_datasets/url_checksums/kmnist.txt
        # (commit 333639b37af6c6fedf3610a4a2d42f1c6ef6f7d5). Raw sha256 unknown.
        (
            (
                "train-images-idx3-ubyte.gz",
                18_165_135,
                "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
                _RAW_TRAIN_IMAGES,
                None,
            ),
            (
                "train-labels-idx1-ubyte.gz",
                29_497,
                "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
                _RAW_TRAIN_LABELS,
                None,
            ),
            (
                "t10k-images-idx3-ubyte.gz",
                3_041_136,
                "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
                _RAW_TEST_IMAGES,
                None,
            ),
            (
                "t10k-labels-idx1-ubyte.gz",
                5_120,
                "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
                _RAW_TEST_LABELS,
                None,
            ),
        ),
    ),
    # Romanised hiragana: お き す つ な は ま や れ を.
    class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    image_shape=(28, 28),
    split_rows={"train": 60_000, "test": 10_000},
    label_counts={"train": (6000,) * 10, "test": (1000,) * 10},
)

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


def file_role(name: str) -> tuple[str, str] | None:
    """``(split, kind)`` from a standard IDX file name (``t10k`` means ``test``), else None."""
    m = _ROLE_RE.match(name)
    if not m:
        return None
    last = re.split(r"[-._]", m["prefix"])[-1].lower()
    split = _SPLITS.get(last)
    return (split, m["kind"]) if split else None


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
            out.extend(e for e in sorted(p.iterdir()) if e.is_file() and _ROLE_RE.match(e.name))
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
