"""Typed configuration of a pipeline run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dataqual.imageset import DEFAULT_BATCH_ROWS, DEFAULT_MAX_EXPANSION, DEFAULT_MAX_IMAGE_SIDE
from dataqual.ingest.split import SplitSpec
from dataqual.store.shards import DEFAULT_SHARD_ROWS
from dataqual.train.trainer import TrainConfig

__all__ = ["RunConfig"]


class RunConfig(BaseModel):
    """Everything one ``dataqual run`` needs; the CLI builds it from flags."""

    model_config = ConfigDict(extra="forbid")

    source: Path | None = Field(None, description="File or folder to ingest.")
    dataset: str | None = Field(None, description="Name of a registered dataset, e.g. 'mnist'.")
    mirror: Path | None = Field(
        None, description="Local folder laid out like the official download sites."
    )
    cache_dir: Path | None = Field(None, description="Where named datasets are downloaded to.")
    format: str | None = Field(None, description="Force a reader instead of detecting the format.")
    split: SplitSpec | None = Field(
        None, description="Cut a single-split source into train/test (stratified, seeded)."
    )
    shape: tuple[int, int] | None = Field(
        None, description="Image height and width for CSV, image folders and Parquet."
    )
    label_column: str | None = Field(None, description="Parquet: the label column.")
    image_column: str | None = Field(None, description="Parquet: the image column.")
    max_image_side: int = Field(
        DEFAULT_MAX_IMAGE_SIDE,
        ge=1,
        description="Largest image height or width accepted; larger images are refused "
        "before anything is allocated.",
    )
    max_expansion: float = Field(
        DEFAULT_MAX_EXPANSION,
        gt=0,
        description="Refuse a compressed source (gzip, npz, Parquet) that expands to more "
        "than this many bytes per byte on disk (a decompression bomb); sources under 64 MiB "
        "expanded are never refused.",
    )
    out: Path = Field(description="Output folder of the run.")
    overwrite: bool = Field(False, description="Replace an existing run in `out`.")
    suites_dir: Path | None = Field(
        None, description="Folder of GX suites (default: expectations/)."
    )
    spec_file: Path | None = Field(
        None, description="Dataset spec JSON overriding the inferred one."
    )
    reference: Path | None = Field(
        None, description="Reference profile (Parquet) to measure drift against."
    )
    batch_rows: int = Field(DEFAULT_BATCH_ROWS, ge=1, description="Rows per ingest chunk.")
    memo_bytes: int = Field(
        512 * 2**20,
        ge=0,
        description="Keep decoded images between the profile and store passes when the whole "
        "dataset is at most this big (one copy); larger datasets are streamed twice.",
    )
    shard_rows: int = Field(DEFAULT_SHARD_ROWS, ge=1, description="Rows per Parquet shard.")
    workers: int | None = Field(
        None,
        ge=1,
        description="Threads for chunk-parallel work (profiling, shard encoding); default: "
        "the cores this process may use, at most 8.",
    )
    plugins: list[str] = Field(
        default_factory=list,
        description="Modules to import before any stage: they register extra checks, readers "
        "or repairs (see docs/architecture.md).",
    )
    wait_lock: float | None = Field(
        None,
        ge=0,
        description="Seconds to wait for another run writing `out` to finish instead of "
        "exiting 2 at once.",
    )
    notify: list[str] = Field(
        default_factory=list,
        description="Webhook URLs POSTed a JSON summary of the run (docs/alerts.md).",
    )
    clean_labels: Literal["flag", "drop", "relabel"] | None = Field(
        None,
        description="Override the label suite's action on suspected label errors: flag (list "
        "them), drop (quarantine them), relabel (confident ones get the out-of-fold model's "
        "class, the rest stay flagged; the original label stays in the findings).",
    )
    train: bool = Field(True, description="Train the reference model after storing.")
    training: TrainConfig = Field(default_factory=TrainConfig)
    compare_raw: bool = Field(
        False,
        description="Also train the same model on the raw rows and report whether cleaning "
        "helped (both accuracies on the same eval rows, per class too).",
    )

    def source_options(self) -> dict[str, object]:
        """Keyword arguments for :func:`~dataqual.ingest.open_source`."""
        options = {
            "split": self.split,
            "shape": self.shape,
            "label_column": self.label_column,
            "image_column": self.image_column,
        }
        return {k: v for k, v in options.items() if v is not None} | {
            "max_image_side": self.max_image_side,
            "max_expansion": self.max_expansion,
        }

    def absolute(self) -> RunConfig:
        """This config with every path made absolute (as a flow run's parameters are
        stored, so they mean the same from any working directory)."""
        fields = ("source", "mirror", "cache_dir", "out", "suites_dir", "spec_file", "reference")
        update = {f: Path(v).absolute() for f in fields if (v := getattr(self, f)) is not None}
        return self.model_copy(update=update)

    def inputs(self) -> list[Path]:
        """Every path the run reads; ``out`` may not be, hold or lie inside any of them."""
        paths = (
            self.source,
            self.reference,
            self.suites_dir,
            self.spec_file,
            self.mirror,
            self.cache_dir,
        )
        return [p for p in paths if p is not None]

    @model_validator(mode="after")
    def _one_source(self) -> RunConfig:
        if (self.source is None) == (self.dataset is None):
            raise ValueError("give exactly one of source (a path) or dataset (a registered name)")
        if self.compare_raw and not self.train:
            raise ValueError("compare_raw trains two models: it cannot go with train=False")
        return self
