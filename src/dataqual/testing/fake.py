"""A fake-dataset factory in the spirit of tfds's fake data, with planted defects.

``fake_dataset(rows={"train": 60, "test": 20}, classes=10, seed=0, defects={"blank": 2})``
gives deterministic, MNIST-like images: each class is a few Gaussian ink blobs centred in
the frame on a black background, and each row is its class's blobs shifted by up to one
pixel, dimmed and speckled, so rows differ, a simple classifier can learn the labels, and
no clean row trips the image checks. Defects are planted in one split, on disjoint rows,
and listed with their row so a test can assert each one is found.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFECT_KINDS", "FakeDataset", "PlantedDefect", "fake_dataset"]

#: What can be planted. ``blank``: every pixel 0; ``inverted``: 255 - pixel; ``duplicate``:
#: an exact copy (image and label) of an earlier clean row of the split; ``near_duplicate``:
#: that copy plus Gaussian noise (sigma 3); ``leak``: an exact copy of a row of another split;
#: ``label_noise``: the label moved to another class; ``bad_label``: label ``classes``, not a
#: class.
DEFECT_KINDS = (
    "blank",
    "inverted",
    "duplicate",
    "near_duplicate",
    "leak",
    "label_noise",
    "bad_label",
)
_COPIES = ("duplicate", "near_duplicate", "leak")


@dataclass(frozen=True)
class PlantedDefect:
    """One planted row: its kind, where it is, and the row it copies (copies only)."""

    kind: str
    split: str
    position: int
    source: str | None = None
    """Id ``<split>/<position>`` of the copied row, for ``duplicate``, ``near_duplicate`` and
    ``leak``."""

    @property
    def id(self) -> str:
        """The row's id as every position-based reader gives it: ``<split>/<position>``."""
        return f"{self.split}/{self.position}"


@dataclass(frozen=True)
class FakeDataset:
    """A fake dataset: ``data`` (with defects) and ``clean`` (before) map split -> (images
    uint8 (n, H, W), labels uint8 (n,)); ``defects`` lists every planted row."""

    data: dict[str, tuple[np.ndarray, np.ndarray]]
    clean: dict[str, tuple[np.ndarray, np.ndarray]]
    defects: tuple[PlantedDefect, ...]
    classes: int

    def of_kind(self, kind: str) -> list[PlantedDefect]:
        """The planted rows of one kind, in planting order."""
        return [d for d in self.defects if d.kind == kind]

    def ids(self, kind: str | None = None) -> list[str]:
        """Ids of the planted rows (of ``kind``, or all)."""
        return [d.id for d in self.defects if kind is None or d.kind == kind]


def _prototypes(
    rng: np.random.Generator, classes: int, shape: tuple[int, int], blobs: int = 3
) -> np.ndarray:
    """Per class, ``blobs`` Gaussian ink blobs centred in the middle 40 % of the frame."""
    h, w = shape
    centres = rng.uniform(0.3, 0.7, (classes, blobs, 2)) * np.array([h, w])
    sigma = max(min(h, w) / 12, 0.8)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    dy = rows[None, None] - centres[:, :, 0, None, None]
    dx = cols[None, None] - centres[:, :, 1, None, None]
    ink = np.exp(-(dy**2 + dx**2) / (2 * sigma**2)).sum(axis=1)
    return np.clip(ink * 255, 0, 255)


def _render(protos: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's prototype shifted by -1..1 pixels, dimmed to 70-100 % and speckled."""
    n, (h, w) = len(labels), protos.shape[1:]
    dy, dx = rng.integers(-1, 2, (2, n, 1, 1))
    rr = (np.arange(h)[None, :, None] - dy) % h
    cc = (np.arange(w)[None, None, :] - dx) % w
    images = protos[labels[:, None, None], rr, cc] * rng.uniform(0.7, 1.0, (n, 1, 1))
    images = images + rng.normal(0, 6, images.shape) * (images > 16)
    images[images < 16] = 0
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def _counts(defects: Mapping[str, int] | None) -> dict[str, int]:
    counts = dict(defects or {})
    unknown = sorted(set(counts) - set(DEFECT_KINDS))
    if unknown:
        raise ValueError(f"unknown defect kinds {unknown}; known: {', '.join(DEFECT_KINDS)}")
    if any(n < 0 for n in counts.values()):
        raise ValueError(f"defect counts must be >= 0, got {counts}")
    return {k: counts[k] for k in DEFECT_KINDS if counts.get(k)}


def _copy_sources(
    kind: str,
    data: Mapping[str, tuple[np.ndarray, np.ndarray]],
    split: str,
    take: Callable[[int], np.ndarray],
    k: int,
    rng: np.random.Generator,
) -> tuple[str, np.ndarray, np.ndarray]:
    """(source split, source rows, target rows) of ``k`` copies: within ``split`` the source
    comes first (the copy is the later row); a leak copies rows of another split."""
    if kind != "leak":
        src, dst = np.sort(take(2 * k).reshape(k, 2), axis=1).T
        return split, src, dst
    others = [s for s, (_, y) in data.items() if s != split and len(y)]
    if not others:
        raise ValueError(f"a leak needs a split other than {split!r} with rows")
    other = "test" if "test" in others else others[0]
    n = len(data[other][1])
    return other, rng.choice(n, k, replace=k > n), take(k)


def _plant(
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    counts: dict[str, int],
    split: str,
    classes: int,
    rng: np.random.Generator,
) -> tuple[PlantedDefect, ...]:
    """Plant ``counts`` defects in ``data[split]`` in place, on disjoint rows."""
    if split not in data:
        raise ValueError(f"no split {split!r} to plant defects in; splits: {', '.join(data)}")
    x, y = data[split]
    needed = sum(counts.values()) + counts.get("duplicate", 0) + counts.get("near_duplicate", 0)
    if needed > len(y):
        raise ValueError(f"planting {counts} needs {needed} rows; {split!r} has {len(y)}")
    order, taken = rng.permutation(len(y)), [0]

    def take(k: int) -> np.ndarray:
        taken[0] += k
        return order[taken[0] - k : taken[0]]

    planted: list[PlantedDefect] = []
    for kind, k in counts.items():
        source = None
        if kind in _COPIES:
            source, src, dst = _copy_sources(kind, data, split, take, k, rng)
            x[dst], y[dst] = data[source][0][src], data[source][1][src]
            if kind == "near_duplicate":
                noisy = x[dst] + rng.normal(0, 3, x[dst].shape)
                x[dst] = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        else:
            dst = take(k)
        if kind == "blank":
            x[dst] = 0
        elif kind == "inverted":
            x[dst] = 255 - x[dst]
        elif kind == "label_noise":
            y[dst] = (y[dst].astype(np.int64) + rng.integers(1, classes, k)) % classes
        elif kind == "bad_label":
            y[dst] = classes
        sources = [f"{source}/{s}" for s in src] if source else [None] * k
        planted += [
            PlantedDefect(kind, split, int(p), s) for p, s in zip(dst, sources, strict=True)
        ]
    return tuple(planted)


def fake_dataset(
    rows: Mapping[str, int] | None = None,
    classes: int = 10,
    shape: tuple[int, int] = (28, 28),
    seed: int = 0,
    defects: Mapping[str, int] | None = None,
    defect_split: str = "train",
) -> FakeDataset:
    """A deterministic fake dataset: ``rows`` per split (default 60 train, 20 test), labels
    cycling through ``classes`` (2..255) in a shuffled order, ``shape`` at least 8x8.

    ``defects`` maps a kind of :data:`DEFECT_KINDS` to how many rows of ``defect_split`` get
    it (disjoint rows; a ``leak`` copies rows of the ``test`` split, else of another split).
    The same arguments give the same bytes on every machine.
    """
    rows = dict(rows if rows is not None else {"train": 60, "test": 20})
    if not 2 <= classes <= 255:
        raise ValueError(f"classes must be 2..255 (labels are uint8), got {classes}")
    if len(shape) != 2 or min(shape) < 8:
        raise ValueError(f"shape must be (height, width), each at least 8, got {shape}")
    counts = _counts(defects)
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng, classes, shape)
    clean: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split, n in rows.items():
        labels = rng.permutation(np.resize(np.arange(classes, dtype=np.uint8), n))
        clean[split] = (_render(protos, labels, rng), labels)
    data = {s: (x.copy(), y.copy()) for s, (x, y) in clean.items()}
    planted = _plant(data, counts, defect_split, classes, rng) if counts else ()
    return FakeDataset(data=data, clean=clean, defects=planted, classes=classes)
