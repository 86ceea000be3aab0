"""Exact duplicates by content hash: within a split, across splits (leakage), label conflicts."""

from __future__ import annotations

from dataclasses import dataclass

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
        key = df["split"].astype("string") + "|" + df["content_hash"]
        first = df["id"].groupby(key.to_numpy(), sort=False).transform("first")
        duplicate_of = first.where(first != df["id"]).astype("string")
        labels = df["label"].astype("Int64").fillna(-1)
        conflict = (
            labels.groupby(df["content_hash"].to_numpy(), sort=False).transform("nunique") > 1
        )
        is_train = (df["split"] == TRAIN_SPLIT).to_numpy()
        leaks_into = pd.Series(pd.NA, index=df.index, dtype="string")
        if is_train.any() and (~is_train).any():
            evaluation = (
                df.loc[~is_train].drop_duplicates("content_hash").set_index("content_hash")["id"]
            )
            leaks_into.loc[is_train] = (
                df.loc[is_train, "content_hash"].map(evaluation).astype("string")
            )
        return Analysis(
            columns={
                "duplicate_of": duplicate_of.to_numpy(),
                "leaks_into": leaks_into.to_numpy(),
                "duplicate_label_conflict": conflict.to_numpy(dtype=bool),
            }
        )
