"""Exact duplicates, leakage and label conflicts against a plain-Python reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dataqual.checks.analysis import AnalysisContext
from dataqual.checks.duplicates import ExactDuplicates
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec

Row = tuple[str, str, int | None]  # split, content hash, label


def profile_of(rows: list[Row]) -> Profile:
    counters: dict[str, int] = {}
    ids = []
    for split, _, _ in rows:
        ids.append(f"{split}/{counters.get(split, 0)}")
        counters[split] = counters.get(split, 0) + 1
    table = pd.DataFrame(
        {
            "id": pd.array(ids, dtype="string"),
            "split": pd.array([r[0] for r in rows], dtype="string"),
            "label": pd.array([r[2] for r in rows], dtype="Int64"),
            "content_hash": pd.array([r[1] for r in rows], dtype="string"),
        }
    )
    return Profile(table=table, thumbs=np.zeros((len(rows), 4), np.uint8), shape=(2, 2))


def reference(rows: list[Row], ids: list[str]) -> dict[str, list[object]]:
    """The definitions, row by row: first earlier copy in the same split; for training rows,
    the first evaluation row with the same content; copies carrying different labels."""
    first_in_split: dict[tuple[str, str], str] = {}
    first_elsewhere: dict[str, str] = {}
    labels: dict[str, set[object]] = {}
    for (split, h, label), rid in zip(rows, ids, strict=True):
        first_in_split.setdefault((split, h), rid)
        if split != "train":
            first_elsewhere.setdefault(h, rid)
        labels.setdefault(h, set()).add(-1 if label is None else label)
    out: dict[str, list[object]] = {"duplicate_of": [], "leaks_into": [], "conflict": []}
    for (split, h, _), rid in zip(rows, ids, strict=True):
        first = first_in_split[(split, h)]
        out["duplicate_of"].append(None if first == rid else first)
        out["leaks_into"].append(first_elsewhere.get(h) if split == "train" else None)
        out["conflict"].append(len(labels[h]) > 1)
    return out


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["train", "test", "val"]),
        st.sampled_from(["a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32]),
        st.one_of(st.none(), st.integers(0, 2)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows_strategy)
def test_matches_the_row_by_row_definition(rows: list[Row]) -> None:
    profile = profile_of(rows)
    context = AnalysisContext(stage="raw", spec=DatasetSpec(classes=[0, 1, 2]))
    got = ExactDuplicates().analyse(profile, context).columns
    want = reference(rows, profile.table["id"].tolist())
    assert [None if pd.isna(v) else v for v in got["duplicate_of"]] == want["duplicate_of"]
    assert [None if pd.isna(v) else v for v in got["leaks_into"]] == want["leaks_into"]
    assert np.asarray(got["duplicate_label_conflict"]).tolist() == want["conflict"]
    assert got["duplicate_of"].dtype == pd.StringDtype("pyarrow")
    assert len(got["leaks_into"]) == len(rows)
