"""Generate the embedded sample dataset in ``data/sample/`` (reproducible: fixed seed).

Digits are drawn as pen strokes from hand-made templates, distorted by a random affine
transform (rotation, scale, shear, shift) and stroke width, rendered at 4x and box-filtered
down to a 20x20 box centred in 28x28, like MNIST. A few defects are planted on purpose so
that the first run has something to report (see ``data/sample/README.md``).

    python scripts/make_sample.py            # rewrites data/sample/*.gz and dataqual.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dataqual.testing import write_idx_dataset

SEED = 20261129
TRAIN, TEST = 1000, 200
SIDE, BOX, SCALE = 28, 20, 4


def _arc(
    cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24
) -> list[tuple[float, float]]:
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t), strict=True))


#: Strokes per digit in a unit box (x right, y down); each stroke is a polyline.
TEMPLATES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.32, 0.45, 0, 360)],
    1: [[(0.35, 0.2), (0.55, 0.05), (0.55, 0.95)]],
    2: [[*_arc(0.5, 0.3, 0.3, 0.25, 200, 370), (0.2, 0.95), (0.85, 0.95)]],
    3: [_arc(0.5, 0.28, 0.28, 0.23, 200, 450), _arc(0.5, 0.72, 0.3, 0.23, 270, 520)],
    4: [[(0.6, 0.05), (0.15, 0.65), (0.85, 0.65)], [(0.62, 0.3), (0.62, 0.95)]],
    5: [[(0.8, 0.05), (0.3, 0.05), (0.25, 0.45), *_arc(0.5, 0.67, 0.3, 0.28, 230, 500)]],
    6: [[(0.7, 0.05), (0.3, 0.45), *_arc(0.5, 0.7, 0.27, 0.25, 180, 540)]],
    7: [[(0.15, 0.05), (0.85, 0.05), (0.4, 0.95)]],
    8: [_arc(0.5, 0.27, 0.24, 0.22, 0, 360), _arc(0.5, 0.72, 0.3, 0.23, 0, 360)],
    9: [_arc(0.5, 0.3, 0.27, 0.25, 0, 360), [(0.77, 0.3), (0.7, 0.95)]],
}


def render(digit: int, rng: np.random.Generator) -> np.ndarray:
    """One distorted digit as uint8 28x28, ink white on black."""
    big = BOX * SCALE
    angle = np.radians(rng.uniform(-15, 15))
    shear = rng.uniform(-0.25, 0.25)
    sx, sy = rng.uniform(0.75, 1.0), rng.uniform(0.85, 1.0)
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array(
        [[sx, shear], [0, sy]]
    )
    img = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(img)
    width = int(rng.integers(7, 12))
    for stroke in TEMPLATES[digit]:
        pts = (np.array(stroke) - 0.5) @ matrix.T * 0.9 + 0.5
        pts += rng.normal(0, 0.015, size=pts.shape)
        draw.line([tuple(p) for p in pts * big], fill=255, width=width, joint="curve")
    small = np.asarray(img.resize((BOX, BOX), Image.Resampling.BOX), dtype=np.float64)
    out = np.zeros((SIDE, SIDE))
    total = small.sum()
    # Centre by centre of mass, as MNIST does.
    cy = (small.sum(axis=1) @ np.arange(BOX)) / total if total else BOX / 2
    cx = (small.sum(axis=0) @ np.arange(BOX)) / total if total else BOX / 2
    oy = int(np.clip(round(SIDE / 2 - cy), 0, SIDE - BOX))
    ox = int(np.clip(round(SIDE / 2 - cx), 0, SIDE - BOX))
    out[oy : oy + BOX, ox : ox + BOX] = small
    return np.clip(out * 1.15, 0, 255).astype(np.uint8)


def make(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = np.resize(np.arange(10), n)
    rng.shuffle(labels)
    images = np.stack([render(int(d), rng) for d in labels])
    return images, labels.astype(np.uint8)


#: The planted defects: (split, position, what) — asserted by the tests and the README.
DEFECTS = [
    ("train", 100, "blank: every pixel 0"),
    ("train", 101, "inverted: 255 - pixel"),
    ("train", 102, "exact duplicate of train/5"),
    ("train", 103, "label 11, not a class"),
    ("train", 104, "label flipped to (true label + 5) % 10"),
    ("train", 105, "copy of test/7 (train/test leakage)"),
]


def plant(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> None:
    train_x[100] = 0
    train_x[101] = 255 - train_x[101]
    train_x[102] = train_x[5]
    train_y[102] = train_y[5]
    train_y[103] = 11
    train_y[104] = (train_y[104] + 5) % 10
    train_x[105] = test_x[7]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "data" / "sample"
    )
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    train_x, train_y = make(TRAIN, rng)
    test_x, test_y = make(TEST, rng)
    plant(train_x, train_y, test_x)
    # gzip level 9 with the file name in the header, mtime 0: byte-identical on every run
    data = {"train": (train_x, train_y), "test": (test_x, test_y)}
    write_idx_dataset(args.out, data, gz=True, level=9, header_name=True)
    spec = {
        "name": "sample-digits",
        "classes": list(range(10)),
        "shape": [SIDE, SIDE],
        "expected_rows": {"train": TRAIN, "test": TEST},
    }
    (args.out / "dataqual.json").write_text(json.dumps(spec, indent=2) + "\n")
    print(f"wrote {TRAIN} train and {TEST} test images to {args.out}")


if __name__ == "__main__":
    main()
