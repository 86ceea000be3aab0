"""Deterministic stratified splitting of single-split sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dataqual.errors import ConfigError
from dataqual.ingest.sources import open_source
from dataqual.ingest.split import SplitSpec, StratifiedSplitSource, natural_key, split_from_name


def _single_csv(tmp_path: Path, fmt, n: int = 300) -> tuple[Path, np.ndarray, np.ndarray]:
    data = fmt.random_data(seed=5, sizes={"train": n})
    x, y = data["train"]
    return fmt.write_csv(tmp_path / "all.csv", x, y), x, y


def test_split_is_deterministic_stratified_and_complete(tmp_path, fmt) -> None:
    path, x, y = _single_csv(tmp_path, fmt)
    spec = SplitSpec(test_fraction=0.2, seed=7)
    source = open_source(path, split=spec)
    assert [s.name for s in source.splits()] == ["train", "test"]
    got = {s: fmt.joined(source.iter_batches(s, 32)) for s in ("train", "test")}
    # every batch but the last has exactly `rows` rows
    assert [len(b) for b in source.iter_batches("test", 32)][:-1] == [32] * (len(got["test"]) // 32)
    positions = np.concatenate([got["train"].positions, got["test"].positions])
    assert sorted(positions.tolist()) == list(range(len(y)))  # disjoint and complete
    for split, batch in got.items():
        assert batch.ids.tolist() == [f"{split}/{p}" for p in batch.positions]
        assert batch.images.tobytes() == x[batch.positions].tobytes()
        assert np.array_equal(batch.labels, y[batch.positions])
        assert np.array_equal(source.labels(split), batch.labels)
    for label in range(10):
        n = int((y == label).sum())
        assert int((got["test"].labels == label).sum()) == round(n * 0.2)
    info = {s.name: s.declared_rows for s in source.splits()}
    assert info == {"train": len(got["train"]), "test": len(got["test"])}
    again = fmt.joined(open_source(path, split=spec).iter_batches("test", 7))
    assert again.ids.tolist() == got["test"].ids.tolist()
    other = fmt.joined(
        open_source(path, split=SplitSpec(test_fraction=0.2, seed=8)).iter_batches("test")
    )
    assert other.ids.tolist() != got["test"].ids.tolist()


def test_split_keeps_image_paths_in_ids(tmp_path, fmt) -> None:
    data = fmt.random_data(seed=2, sizes={"train": 40})
    root = fmt.write_images(tmp_path / "imgs", data, layout="class")
    source = open_source(root, split=SplitSpec(test_fraction=0.25, seed=1))
    test = fmt.joined(source.iter_batches("test"))
    assert len(test) == sum(round(int((data["train"][1] == c).sum()) * 0.25) for c in range(10))
    assert all(i.startswith("test/") and i.endswith(".png") for i in test.ids)
    assert all(i.split("/")[1] == str(lab) for i, lab in zip(test.ids, test.labels, strict=True))


def test_split_of_multi_split_source_is_config_error(tmp_path, fmt) -> None:
    path = fmt.write_npz(tmp_path / "m.npz", fmt.random_data())
    with pytest.raises(ConfigError, match="one split"):
        open_source(path, split=SplitSpec(test_fraction=0.1, seed=0))


def test_unknown_split_name(tmp_path, fmt) -> None:
    path, _, _ = _single_csv(tmp_path, fmt, 20)
    source = StratifiedSplitSource(open_source(path), SplitSpec(test_fraction=0.5, seed=0))
    with pytest.raises(ConfigError, match="no split 'val'"):
        list(source.iter_batches("val"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"test_fraction": 0.0, "seed": 1},
        {"test_fraction": 1.0, "seed": 1},
        {"test_fraction": 0.2},
        {"test_fraction": 0.2, "seed": 1, "stratify": False},
    ],
)
def test_split_spec_validation(kwargs) -> None:
    with pytest.raises(pydantic.ValidationError):
        SplitSpec(**kwargs)


def test_missing_labels_are_a_stratum() -> None:
    labels = np.array([-1] * 10 + [3] * 10)
    is_test = SplitSpec(test_fraction=0.3, seed=0).assign(labels)
    assert is_test[:10].sum() == 3 and is_test[10:].sum() == 3


def test_names_and_order() -> None:
    assert split_from_name("mnist_train.csv") == "train"
    assert split_from_name("t10k-images") == "test"
    assert split_from_name("digits_val.csv") == "val"
    assert split_from_name("interval.csv") == "train"
    assert sorted(["part-10", "part-9", "part-1"], key=natural_key) == [
        "part-1",
        "part-9",
        "part-10",
    ]


def test_natural_key_takes_only_ascii_digits_as_numbers() -> None:
    names = ["²1", "1²2", "a²b", "٣", "x①", "10", "9", "09", "a"]
    assert sorted(names, key=natural_key) == [  # 09 / 9: equal numbers, the name decides
        "1²2",
        "09",
        "9",
        "10",
        "a",
        "a²b",
        "x①",
        "²1",
        "٣",
    ]
    assert natural_key("٣") > natural_key("a")  # a non-ASCII digit is text
    assert sorted(["p" + "9" * 5000, "p" + "1" + "0" * 5000, "p8"], key=natural_key) == [
        "p8",
        "p" + "9" * 5000,
        "p" + "1" + "0" * 5000,  # no int(): any length compares
    ]


_NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("0123456789²٣"),
    max_size=20,
)


@given(st.lists(_NAMES, min_size=1, max_size=8), st.integers(0, 10**30), st.integers(0, 10**30))
def test_natural_key_is_a_total_order_that_never_raises(names: list[str], i: int, j: int) -> None:
    keys = [natural_key(n) for n in names]
    for a, ka in zip(names, keys, strict=True):
        for b, kb in zip(names, keys, strict=True):
            assert (ka == kb) == (a == b)  # distinct names never tie
            assert (ka < kb) + (ka > kb) + (ka == kb) == 1  # comparable, exactly one holds
            for kc in keys:
                if ka < kb and kb < kc:
                    assert ka < kc  # transitive
    assert sorted(names, key=natural_key) == sorted(sorted(names), key=natural_key)  # stable
    assert (natural_key(f"part-{i}.png") < natural_key(f"part-{j}.png")) == (i < j)
    assert (natural_key(f"x{i:040d}") < natural_key(f"x{j}")) == (i < j) or i == j
