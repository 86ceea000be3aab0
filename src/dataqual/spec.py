"""What a dataset is expected to look like: classes, shape and declared counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataqual.errors import ConfigError
from dataqual.imageset import ImageSource

if TYPE_CHECKING:
    from dataqual.ingest.registry import DatasetInfo

__all__ = ["SPEC_FILE", "DatasetSpec", "infer_spec", "load_spec", "spec_from_registry"]

#: A source folder may carry this file to declare its expectations.
SPEC_FILE = "dataqual.json"


class DatasetSpec(BaseModel):
    """Declared facts a dataset is validated against; ``None`` means "not declared"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("custom", description="Dataset name, e.g. 'mnist'.")
    classes: list[int] = Field(default_factory=lambda: list(range(10)), description="Valid labels.")
    class_names: list[str] | None = Field(None, description="Human names of the classes, in order.")
    shape: tuple[int, int] = Field((28, 28), description="Image height and width.")
    expected_rows: dict[str, int] = Field(
        default_factory=dict, description="Rows each split must have, by split name."
    )
    expected_label_counts: dict[str, list[int]] = Field(
        default_factory=dict, description="Rows per class each split must have, by split name."
    )
    min_class_share: float = Field(
        0.02, ge=0, le=1, description="Smallest share of a split any class may have."
    )
    max_quarantine_fraction: float = Field(
        0.05, ge=0, le=1, description="Largest share of a split cleaning may remove."
    )

    def class_label(self, label: int) -> str:
        if self.class_names and 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)


def load_spec(path: Path) -> DatasetSpec:
    """Read a :class:`DatasetSpec` from JSON, naming the file and field on error."""
    try:
        return DatasetSpec.model_validate(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        raise ConfigError(f"{path}: not a valid dataset spec: {exc}") from exc


def infer_spec(source: ImageSource, path: Path | None = None) -> DatasetSpec:
    """The spec of a source: its ``dataqual.json`` if present, else the headers' declared counts."""
    if path is not None:
        candidate = Path(path) / SPEC_FILE if Path(path).is_dir() else Path(path).parent / SPEC_FILE
        if candidate.is_file():
            return load_spec(candidate)
    declared = {s.name: s.declared_rows for s in source.splits() if s.declared_rows is not None}
    return DatasetSpec(shape=source.shape, expected_rows=declared)


def spec_from_registry(info: DatasetInfo) -> DatasetSpec:
    """The spec of a registered dataset: its classes, shape and published counts."""
    return DatasetSpec(
        name=info.name,
        classes=list(range(len(info.class_names))),
        class_names=list(info.class_names),
        shape=tuple(info.image_shape),
        expected_rows=dict(info.split_rows),
        expected_label_counts={k: list(v) for k, v in info.label_counts.items()},
    )
