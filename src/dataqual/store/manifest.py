"""The shard manifest: every shard with its checksum, counts per split, and lineage."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from dataqual import __version__
from dataqual.errors import FormatError
from dataqual.files import sha256_file, write_json
from dataqual.store.schema import SCHEMA_VERSION

__all__ = [
    "MANIFEST_NAME",
    "Lineage",
    "Manifest",
    "ShardEntry",
    "SourceFile",
    "SplitEntry",
    "SuiteRef",
]

MANIFEST_NAME = "manifest.json"


class ShardEntry(BaseModel):
    path: str = Field(description="Path relative to the manifest's folder.")
    split: str
    rows: int
    sha256: str


class SplitEntry(BaseModel):
    rows: int
    label_counts: dict[str, int]


class SourceFile(BaseModel):
    path: str
    bytes: int
    sha256: str


class SuiteRef(BaseModel):
    name: str
    version: str
    file: str
    sha256: str


class Lineage(BaseModel):
    """Where the shards came from: source files, suites and code versions."""

    source: str = ""
    format: str = ""
    dataset: str = ""
    files: list[SourceFile] = Field(default_factory=list)
    suites: list[SuiteRef] = Field(default_factory=list)
    dataqual_version: str = __version__
    git_commit: str | None = None


class Manifest(BaseModel):
    """Contents of ``manifest.json`` beside the split folders of shards."""

    format: str = "dataqual-shards"
    schema_version: str = SCHEMA_VERSION
    height: int
    width: int
    columns: list[str] = Field(default_factory=lambda: ["id", "split", "label", "image"])
    splits: dict[str, SplitEntry]
    shards: list[ShardEntry]
    lineage: Lineage = Field(default_factory=Lineage)

    def write(self, folder: Path) -> Path:
        return write_json(Path(folder) / MANIFEST_NAME, self.model_dump(mode="json"))

    @classmethod
    def load(cls, folder_or_file: Path) -> Manifest:
        path = Path(folder_or_file)
        if path.is_dir():
            path = path / MANIFEST_NAME
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, ValidationError) as exc:
            raise FormatError(path, f"not a valid dataqual manifest: {exc}") from exc

    def shard_paths(self, folder: Path, split: str | None = None) -> list[Path]:
        return [Path(folder) / s.path for s in self.shards if split is None or s.split == split]

    def verify(self, folder: Path) -> list[str]:
        """Problems found when checking every shard's existence and checksum (empty = fine)."""
        problems = []
        for shard in self.shards:
            path = Path(folder) / shard.path
            if not path.is_file():
                problems.append(f"{shard.path}: missing")
            elif sha256_file(path) != shard.sha256:
                problems.append(f"{shard.path}: sha256 differs from the manifest")
        return problems
