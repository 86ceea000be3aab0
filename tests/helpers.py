"""Helpers shared by the test layers: tiny IDX datasets and shard folders in temp folders.

Import as ``from tests.helpers import make_idx_dataset, write_idx``. Everything here writes
into a folder the caller owns (normally ``tmp_path``); nothing is cached or committed.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

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

#: IDX type code per NumPy dtype (values are stored big-endian).
IDX_TYPE_CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(">i2"): 0x0B,
    np.dtype(">i4"): 0x0C,
    np.dtype(">f4"): 0x0D,
    np.dtype(">f8"): 0x0E,
}

#: File-name prefix of each split in the official MNIST layout.
_PREFIX = {"train": "train", "test": "t10k"}


def idx_header(dims: tuple[int, ...] | list[int], type_code: int = 0x08) -> bytes:
    """An IDX header: two zero bytes, the type code, ndim, then one big-endian uint32 per dim.

    The dims are written as given, so a header may claim more records than follow.
    """
    return struct.pack(">HBB", 0, type_code, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``: its header then its values, big-endian, row-major.

    uint8 arrays are the MNIST case; other dtypes in :data:`IDX_TYPE_CODES` (any byte order)
    produce the matching type code, for tests of readers that must reject them.
    """
    array = np.asarray(array)
    big = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if big not in IDX_TYPE_CODES:
        raise TypeError(f"no IDX type code for dtype {array.dtype}")
    return idx_header(array.shape, IDX_TYPE_CODES[big]) + np.ascontiguousarray(array, big).tobytes()


def write_idx(path: str | Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write ``array`` as an IDX file at exactly ``path``, gzip-compressed when ``gz``.

    The name is not changed: pass ``...-ubyte.gz`` for ``gz=True`` if a reader should find it
    by its standard name. Compression uses ``mtime=0`` so the bytes are reproducible.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = idx_bytes(array)
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    return path


def idx_names(split: str, gz: bool = True) -> tuple[str, str]:
    """Standard (images, labels) file names of a split (prefix ``t10k`` for ``test``)."""
    prefix = _PREFIX.get(split, split)
    suffix = ".gz" if gz else ""
    return f"{prefix}-images-idx3-ubyte{suffix}", f"{prefix}-labels-idx1-ubyte{suffix}"


def make_idx_dataset(
    folder: str | Path,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    gz: bool = True,
) -> Path:
    """An MNIST-layout folder: ``train-*`` and (when given) ``t10k-*`` IDX files.

    Images are uint8 (n, H, W), labels uint8-compatible (n,). Returns ``folder``, ready for
    ``IdxSource.from_folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    splits = {"train": (train_images, train_labels)}
    if test_images is not None or test_labels is not None:
        if test_images is None or test_labels is None:
            raise ValueError("give both test_images and test_labels, or neither")
        splits["test"] = (test_images, test_labels)
    for split, (images, labels) in splits.items():
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.dtype != np.uint8 or images.ndim != 3:
            raise TypeError(
                f"{split} images must be uint8 (n, H, W), got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or labels.min(initial=0) < 0 or labels.max(initial=0) > 255:
            raise ValueError(f"{split} labels must be a 1-D array of values 0..255")
        img_name, lab_name = idx_names(split, gz)
        write_idx(folder / img_name, images, gz=gz)
        write_idx(folder / lab_name, labels.astype(np.uint8), gz=gz)
    return folder


def random_images(
    n: int, shape: tuple[int, int] = (28, 28), seed: int = 0, ink: float = 0.4
) -> np.ndarray:
    """``n`` random uint8 images, distinct with overwhelming probability: about ``ink`` of the
    pixels are random values 1..255 on a zero background (MNIST-like sparsity)."""
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 256, (n, *shape), dtype=np.uint8)
    return np.where(rng.random((n, *shape)) < ink, values, 0).astype(np.uint8)


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

    from dataqual import run as stages

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
    return events
