"""Plant defects of every kind in a copy of MNIST, and record the truth of what was planted.

IDX holds uint8 images, so pixel values a uint8 cannot hold (> 255, negative, fractional,
missing) are planted in a CSV copy instead. Kinds never share a row; copies replace
existing train rows (counts stay the same) and sit after their source, so that the copy,
not the original, is the "later" row the duplicate checks report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dataqual.testing import write_csv_dataset

__all__ = [
    "BLANK_NOISE_SIGMA",
    "CONTRAST_RANGE",
    "COPY_NOISE_SIGMA",
    "CSV_KINDS",
    "CSV_TRAIN_ROWS",
    "IDX_KINDS",
    "Data",
    "inject",
    "load_source",
    "write_dirty_csv",
]

Data = dict[str, tuple[np.ndarray, np.ndarray]]
#: Planted defect kind -> the checks that count as finding it (the first is its own check).
IDX_KINDS: dict[str, list[str]] = {
    "label_flip": ["label_issue"],
    "blank": ["blank_image"],
    "inverted": ["inverted_image"],
    "exact_duplicate": ["exact_duplicate"],
    "near_duplicate": ["near_duplicate"],
    "exact_leak": ["leakage"],
    "near_leak": ["near_leakage"],
}
CSV_KINDS: dict[str, list[str]] = {
    "above_255": ["pixel_max_in_range", "pixel_values_integral"],
    "negative": ["pixel_min_in_range", "pixel_values_integral"],
    "fractional": ["pixel_values_integral"],
    "missing": ["missing_pixels"],
}
#: Train rows (from the start of train) that join the test split in the CSV run.
CSV_TRAIN_ROWS = 10_000
#: Gaussian noise on near copies, on "constant + noise" blanks; contrast factors of near copies.
COPY_NOISE_SIGMA = 3.0
BLANK_NOISE_SIGMA = 1.0
CONTRAST_RANGE = (0.7, 0.9)
_COLUMNS = ["id", "kind", "variant", "original_label"]


def load_source(source: Path, rows: int | None = None) -> Data:
    """split -> (images uint8 (n, H, W), labels int64), read by dataqual's own reader; with
    ``rows``, only the first ``rows`` of train and ``rows // 6`` of test (MNIST's ratio)."""
    from dataqual.ingest import open_source

    src = open_source(source)
    limits = {"train": rows, "test": rows // 6} if rows else {}
    data = {}
    for split in src.splits():
        limit = limits.get(split.name)
        batches = []
        for batch in src.iter_batches(split.name, 20_000):
            batches.append(batch)
            if limit is not None and sum(len(b) for b in batches) >= limit:
                break
        images = np.concatenate([b.images for b in batches])[:limit]
        labels = np.concatenate([b.labels for b in batches])[:limit]
        data[split.name] = (images.astype(np.uint8), labels.astype(np.int64))
    return data


def _noisy(images: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noise = rng.normal(0.0, sigma, images.shape)
    return np.clip(np.rint(images.astype(np.float64) + noise), 0, 255).astype(np.uint8)


def _contrast(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    factor = rng.uniform(*CONTRAST_RANGE, (len(images), 1, 1))
    return np.clip(np.rint(images * factor), 0, 255).astype(np.uint8)


@dataclass
class _Planter:
    """The dirty arrays, a random order of train rows to take from, and the truth so far."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    rng: np.random.Generator
    order: np.ndarray
    taken: int = 0
    rows: list[tuple[str, str, str, int]] = field(default_factory=list)

    def take(self, n: int) -> np.ndarray:
        part = self.order[self.taken : self.taken + n]
        if len(part) < n:
            raise ValueError("not enough train rows for the defects asked for")
        self.taken += n
        return part

    def note(self, split: str, idx: np.ndarray, kind: str, variant: str) -> None:
        labels = self.y[split][idx]
        self.rows.extend(
            (f"{split}/{i}", kind, variant, int(y)) for i, y in zip(idx, labels, strict=True)
        )


def _flip(p: _Planter, split: str, idx: np.ndarray) -> None:
    p.note(split, idx, "label_flip", split)
    p.y[split][idx] = (p.y[split][idx] + p.rng.integers(1, 10, len(idx))) % 10


def _flip_labels(p: _Planter, fraction: float) -> tuple[np.ndarray, int]:
    """Label flips in ``fraction`` of each split, to a random other class; returns the random
    order of test rows and how many of its first rows were flipped."""
    _flip(p, "train", p.take(round(fraction * len(p.y["train"]))))
    test_order = p.rng.permutation(len(p.y["test"]))
    flipped = round(fraction * len(p.y["test"]))
    _flip(p, "test", test_order[:flipped])
    return test_order, flipped


def _plant_images(p: _Planter, per_kind: int) -> None:
    """Blanks (all 0, constant, constant + noise) and inverted images in train."""
    x, third = p.x["train"], per_kind // 3
    blank = p.take(per_kind)
    zero, const, near = blank[:third], blank[third : 2 * third], blank[2 * third :]
    x[zero] = 0
    x[const] = p.rng.integers(1, 255, len(const))[:, None, None]
    level = p.rng.integers(8, 248, len(near))[:, None, None].astype(np.float64)
    x[near] = _noisy(np.broadcast_to(level, (len(near), *x.shape[1:])), p.rng, BLANK_NOISE_SIGMA)
    noisy = f"constant + noise {BLANK_NOISE_SIGMA:g}"
    for part, variant in ((zero, "all 0"), (const, "constant"), (near, noisy)):
        p.note("train", part, "blank", variant)
    inverted = p.take(per_kind)
    x[inverted] = 255 - x[inverted]
    p.note("train", inverted, "inverted", "255 - x")


def _plant_duplicates(p: _Planter, per_kind: int) -> None:
    """Pairs of untouched train rows: the later one becomes an exact or near copy."""
    x, y = p.x["train"], p.y["train"]
    lo, hi = CONTRAST_RANGE
    for kind in ("exact_duplicate", "near_duplicate"):
        src, dst = np.sort(p.take(2 * per_kind).reshape(per_kind, 2), axis=1).T
        copies = x[src]
        variants = np.array(["copy"] * per_kind)
        if kind == "near_duplicate":
            noise = np.arange(per_kind) < per_kind // 2
            copies[noise] = _noisy(copies[noise], p.rng, COPY_NOISE_SIGMA)
            copies[~noise] = _contrast(copies[~noise], p.rng)
            variants = np.where(noise, f"noise sigma {COPY_NOISE_SIGMA:g}", f"contrast x{lo}-{hi}")
        x[dst], y[dst] = copies, y[src]
        for v in np.unique(variants):
            p.note("train", dst[variants == v], kind, str(v))


def _plant_leaks(p: _Planter, per_kind: int, sources: np.ndarray) -> None:
    """Exact and near copies of (unflipped) test rows replace train rows."""
    for kind, src in (("exact_leak", sources[:per_kind]), ("near_leak", sources[per_kind:])):
        dst = p.take(per_kind)
        exact = kind == "exact_leak"
        test_x = p.x["test"][src]
        p.x["train"][dst] = test_x if exact else _noisy(test_x, p.rng, COPY_NOISE_SIGMA)
        p.y["train"][dst] = p.y["test"][src]
        p.note("train", dst, kind, "copy" if exact else f"noise sigma {COPY_NOISE_SIGMA:g}")


def inject(
    data: Data, rng: np.random.Generator, per_kind: int, flip_fraction: float
) -> tuple[Data, pd.DataFrame]:
    """A dirty copy of ``data`` and the truth: one row (id, kind, variant, original_label)
    per planted row."""
    x = {s: data[s][0].copy() for s in ("train", "test")}
    y = {s: data[s][1].copy() for s in ("train", "test")}
    p = _Planter(x, y, rng, rng.permutation(len(y["train"])))
    test_order, flipped = _flip_labels(p, flip_fraction)
    _plant_images(p, per_kind)
    _plant_duplicates(p, per_kind)
    _plant_leaks(p, per_kind, test_order[flipped : flipped + 2 * per_kind])
    truth = pd.DataFrame(p.rows, columns=_COLUMNS)
    assert truth["id"].is_unique, "planted kinds must not share rows"
    return {s: (x[s], y[s]) for s in ("train", "test")}, truth


_CELLS = np.array([str(v) for v in range(256)], dtype=object)


def _bad_cells(kind: str, rng: np.random.Generator, n: int, pick: int) -> tuple[list[str], str]:
    """``n`` cell texts of a CSV defect kind, and the variant's name."""
    if kind == "above_255":
        return [str(v) for v in rng.integers(256, 1001, n)], "256..1000"
    if kind == "negative":
        return [str(v) for v in rng.integers(-50, 0, n)], "-50..-1"
    if kind == "fractional":
        return [f"{v:.1f}" for v in rng.integers(1, 254, n) + 0.5], "x.5"
    variant = "empty" if pick % 2 else "NaN"
    return ["" if variant == "empty" else "NaN"] * n, variant


def write_dirty_csv(
    folder: Path, data: Data, rng: np.random.Generator, per_kind: int
) -> tuple[pd.DataFrame, int]:
    """``train.csv`` (the first :data:`CSV_TRAIN_ROWS` train rows) and ``test.csv``, label
    first, no header, with out-of-range, fractional and missing cells planted in distinct
    rows (1-5 cells each). Returns the truth and the number of rows written."""
    parts = {"train": slice(0, CSV_TRAIN_ROWS), "test": slice(None)}
    cells = {s: _CELLS[data[s][0][parts[s]]] for s in parts}
    labels = {s: data[s][1][parts[s]] for s in parts}
    index = [(s, i) for s in parts for i in range(len(labels[s]))]
    chosen = rng.choice(len(index), 4 * per_kind, replace=False)
    rows = []
    for k, kind in enumerate(CSV_KINDS):
        for pick in chosen[k * per_kind : (k + 1) * per_kind]:
            split, i = index[pick]
            flat = cells[split][i].reshape(-1)  # a view: writes go to the image
            where = rng.choice(flat.size, rng.integers(1, 6), replace=False)
            flat[where], variant = _bad_cells(kind, rng, len(where), int(pick))
            rows.append((f"{split}/{i}", kind, variant, int(labels[split][i])))
    write_csv_dataset(folder, {s: (cells[s], labels[s]) for s in parts})
    return pd.DataFrame(rows, columns=_COLUMNS), len(index)
