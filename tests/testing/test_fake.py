"""The fake-dataset factory is deterministic, looks like clean digits, and plants exactly the
defects it lists."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dataqual.ingest import open_source
from dataqual.testing import DEFECT_KINDS, fake_dataset, write_idx_dataset

ALL = {kind: 3 for kind in DEFECT_KINDS}


def _bytes(fake: object) -> list[bytes]:
    return [a.tobytes() for x, y in fake.data.values() for a in (x, y)]  # type: ignore[attr-defined]


def test_same_arguments_same_bytes_other_seed_other_bytes() -> None:
    a = fake_dataset(seed=1, defects=ALL)
    b = fake_dataset(seed=1, defects=ALL)
    assert _bytes(a) == _bytes(b) and a.defects == b.defects
    assert _bytes(fake_dataset(seed=2, defects=ALL)) != _bytes(a)


def test_shapes_labels_and_clean_rows() -> None:
    fake = fake_dataset(rows={"train": 50, "val": 7}, classes=5, shape=(12, 16))
    assert list(fake.data) == ["train", "val"] and fake.defects == ()
    x, y = fake.data["train"]
    assert x.shape == (50, 12, 16) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert np.bincount(y).tolist() == [10] * 5  # every class, balanced
    flat = x.reshape(len(x), -1).astype(float)
    assert flat.std(axis=1).min() > 4  # no clean row is blank
    border = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    assert border.mean(axis=1).max() < 32  # dark background: not inverted
    assert len({r.tobytes() for r in x}) == len(x)  # no duplicates
    assert all(
        np.array_equal(a, b) for a, b in zip(fake.data["val"], fake.clean["val"], strict=True)
    )


def test_defects_are_planted_as_listed() -> None:
    fake = fake_dataset(rows={"train": 60, "test": 20}, defects=ALL)
    x, y = fake.data["train"]
    cx, cy = fake.clean["train"]
    positions = [d.position for d in fake.defects]
    assert len(positions) == len(set(positions)) == 3 * len(DEFECT_KINDS)
    assert {d.kind for d in fake.defects} == set(DEFECT_KINDS)
    for d in fake.defects:
        i = d.position
        if d.kind == "blank":
            assert not x[i].any()
        elif d.kind == "inverted":
            assert np.array_equal(x[i], 255 - cx[i])
        elif d.kind == "label_noise":
            assert y[i] != cy[i] and y[i] < fake.classes
        elif d.kind == "bad_label":
            assert y[i] == fake.classes
        else:
            split, at = d.source.split("/")  # type: ignore[union-attr]
            sx, sy = fake.data[split]
            assert split == ("test" if d.kind == "leak" else "train")
            assert y[i] == sy[int(at)]
            if d.kind == "duplicate" or d.kind == "leak":
                assert np.array_equal(x[i], sx[int(at)])
            else:
                assert int(at) < i and 0 < np.abs(x[i] - sx[int(at)].astype(int)).max() <= 20
            if d.kind != "leak":
                assert int(at) not in positions and int(at) < i
    untouched = np.setdiff1d(np.arange(60), positions)
    assert np.array_equal(x[untouched], cx[untouched])
    assert fake.ids("blank") == [f"train/{d.position}" for d in fake.of_kind("blank")]


def test_planted_rows_reach_the_reader(tmp_path: Path) -> None:
    fake = fake_dataset(defects={"bad_label": 2, "blank": 1})
    source = open_source(write_idx_dataset(tmp_path, fake.data))
    batch = next(source.iter_batches("train", 100))
    bad = batch.ids[batch.labels == fake.classes].tolist()
    assert sorted(bad) == sorted(fake.ids("bad_label"))
    blank = batch.ids[~batch.images.reshape(len(batch), -1).any(axis=1)].tolist()
    assert blank == fake.ids("blank")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"defects": {"smudge": 1}}, "unknown defect kinds"),
        ({"defects": {"blank": -1}}, ">= 0"),
        ({"rows": {"train": 5}, "defects": {"duplicate": 3}}, "needs 6 rows"),
        ({"rows": {"train": 9}, "defects": {"leak": 1}}, "a leak needs a split"),
        ({"defects": {"blank": 1}, "defect_split": "val"}, "no split 'val'"),
        ({"classes": 1}, "classes must be"),
        ({"shape": (4, 28)}, "at least 8"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fake_dataset(**kwargs)


def test_toolkit_imports_no_test_dependency() -> None:
    """The toolkit ships in the package: it may import only runtime dependencies."""
    code = (
        "import sys, dataqual.testing\n"
        "bad = [m for m in ('pytest', 'hypothesis', 'playwright') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
