"""Helpers shared by the test layers: tiny IDX datasets and shard folders in temp folders.

Import as ``from tests.helpers import make_idx_dataset, write_idx``. The writers are
:mod:`dataqual.testing`'s, re-exported under the names the tests use (``write_idx`` here is
:func:`~dataqual.testing.write_idx_file`). Everything here writes into a folder the caller
owns (normally ``tmp_path``); nothing is cached or committed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dataqual.testing import (
    IDX_TYPE_CODES,
    idx_bytes,
    idx_header,
    idx_names,
    random_images,
    write_idx_dataset,
)
from dataqual.testing import write_idx_file as write_idx

__all__ = [
    "IDX_TYPE_CODES",
    "idx_bytes",
    "idx_header",
    "idx_names",
    "make_idx_dataset",
    "make_shards",
    "random_images",
    "rendezvous_store_and_validation",
    "write_idx",
]


def make_idx_dataset(
    folder: str | Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    gz: bool = True,
) -> Path:
    """An MNIST-layout folder: ``train-*`` and (when given) ``t10k-*`` IDX files, written by
    :func:`~dataqual.testing.write_idx_dataset`. Returns ``folder``."""
    data = {"train": (train_images, train_labels)}
    if test_images is not None or test_labels is not None:
        if test_images is None or test_labels is None:
            raise ValueError("give both test_images and test_labels, or neither")
        data["test"] = (test_images, test_labels)
    return write_idx_dataset(folder, data, gz=gz)


def make_shards(
    folder: str | Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    shard_rows: int = 20_000,
) -> Path:
    """A dataqual shard folder (``<split>/part-*.parquet`` + manifest) holding exactly the given
    rows, nothing removed or repaired. The IDX files it is made from go to ``folder/../<name>-idx``.
    """
    from dataqual.clean import plan_cleaning
    from dataqual.ingest.idx import IdxSource
    from dataqual.profile import profile_batches
    from dataqual.store.shards import write_dataset
    from dataqual.validate.report import ValidationReport

    folder = Path(folder)
    src = make_idx_dataset(
        folder.parent / f"{folder.name}-idx", train_images, train_labels, test_images, test_labels
    )
    source = IdxSource.from_folder(src)
    raw = profile_batches(
        (b for s in source.splits() for b in source.iter_batches(s.name)), source.shape
    )
    plan = plan_cleaning(raw.table["id"], ValidationReport(stage="raw", results=[]))
    quarantine = folder.parent / f"{folder.name}-q.parquet"
    result = write_dataset(source, plan, folder, quarantine_path=quarantine, shard_rows=shard_rows)
    result.manifest.write(folder)
    return folder


def rendezvous_store_and_validation(
    monkeypatch: pytest.MonkeyPatch, *, fail_validation: bool = False
) -> list[str]:
    """Patch ``store`` and ``validate`` so that each waits for the other to have started: a
    run only gets through when the shards are written while the cleaned data is validated."""
    import threading

    from dataqual import recipe as stages

    store_started, validating = threading.Event(), threading.Event()
    events: list[str] = []
    real_store, real_validate = stages.store, stages.validate

    def store(*args: object, **kwargs: object) -> object:
        store_started.set()
        if not validating.wait(30):
            raise AssertionError("the store pass did not overlap the cleaned validation")
        result = real_store(*args, **kwargs)  # type: ignore[arg-type]
        events.append("stored")
        return result

    def validate(*args: object, stage: str, **kwargs: object) -> object:
        if stage == "cleaned":
            validating.set()
            if not store_started.wait(30):
                raise AssertionError("the cleaned validation did not overlap the store pass")
            if fail_validation:
                raise RuntimeError("validation broke while the shards were being written")
        return real_validate(*args, stage=stage, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stages, "store", store)
    monkeypatch.setattr(stages, "validate", validate)
    flows = sys.modules.get("pipelines.flows")
    if flows is not None:  # the flow's store task holds the function it was made from
        monkeypatch.setattr(flows.store, "fn", store)
    return events
