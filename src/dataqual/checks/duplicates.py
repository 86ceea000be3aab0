"""Exact duplicates by content hash: within a split, across splits (leakage), label conflicts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.profile import Profile

__all__ = ["TRAIN_SPLIT", "ExactDuplicates"]

#: Rows of this split that also occur in another split are leakage.
TRAIN_SPLIT = "train"


@dataclass(frozen=True)
class ExactDuplicates:
    """Adds ``duplicate_of`` (first earlier copy in the same split), ``leaks_into`` (a copy in
    an evaluation split, for training rows) and ``duplicate_label_conflict``."""

    name: str = "exact_duplicates"

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        df = profile.table
        # Integer codes instead of string keys: grouping 70k rows takes milliseconds.
        hashes, _ = pd.factorize(df["content_hash"])
        splits, _ = pd.factorize(df["split"])
        key = splits.astype(np.int64) * (hashes.max(initial=0) + 1) + hashes
        ids = df["id"].to_numpy(dtype=object)
        first_row = pd.Series(np.arange(len(df))).groupby(key, sort=False).transform("min")
        first = ids[first_row.to_numpy()]
        duplicate_of = pd.array(np.where(first != ids, first, None), dtype="string")
        labels = df["label"].astype("Int64").fillna(-1).to_numpy()
        conflict = pd.Series(labels).groupby(hashes, sort=False).transform("nunique") > 1
        is_train = (df["split"] == TRAIN_SPLIT).to_numpy()
        leaks_into = pd.array([None] * len(df), dtype="string")
        if is_train.any() and (~is_train).any():
            evaluation = pd.Series(ids[~is_train]).groupby(hashes[~is_train], sort=False).first()
            found = pd.Series(hashes[is_train]).map(evaluation)
            leaks_into[is_train] = pd.array(found.to_numpy(dtype=object), dtype="string")
        return Analysis(
            columns={
                "duplicate_of": duplicate_of,
                "leaks_into": leaks_into,
                "duplicate_label_conflict": conflict.to_numpy(dtype=bool),
            }
        )
