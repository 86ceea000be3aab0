"""What a well-known dataset is: its files as the official site serves them (URLs, sha256,
sizes) and what a correct copy holds (shape, classes, rows per split and per label)."""

from __future__ import annotations

import re
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataqual.errors import ConfigError

__all__ = ["DatasetFile", "DatasetInfo", "file_role", "role_pattern"]

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

_ROLE_RE = re.compile(
    r"^(?P<prefix>.+?)[-._](?P<kind>images|labels)[-._]idx[13][-._]ubyte(?:\.gz)?$"
)
_SPLITS = {"t10k": "test", "test": "test", "train": "train"}


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


def file_role(name: str) -> tuple[str, str] | None:
    """``(split, kind)`` from a standard IDX file name (``t10k`` means ``test``), else None."""
    m = _ROLE_RE.match(name)
    if not m:
        return None
    last = re.split(r"[-._]", m["prefix"])[-1].lower()
    split = _SPLITS.get(last)
    return (split, m["kind"]) if split else None


def role_pattern() -> re.Pattern[str]:
    """The pattern of a standard IDX file name (``<prefix>-<images|labels>-idx<n>-ubyte``)."""
    return _ROLE_RE
