"""Near duplicates: distinct images whose thumbnails nearly coincide, within a split and across
splits (near leakage of evaluation images into training).

The embedding is the profile's 14x14 thumbnail scaled to unit length, so the distance
``||a/|a| - b/|b|||`` (0 = same up to contrast, 2 = orthogonal) ignores brightness or contrast
changes and counts noise relative to the ink. On clean MNIST (70k images, ~2.45e9 pairs) the
smallest distance between two distinct images is 0.072 within a split and 0.085 between train
and test (both pairs of near-identical straight '1's); 5 pairs lie under 0.08 and 70 pairs
(116 rows, all '1's) under 0.10. A planted copy lands far lower: image + Gaussian noise
sigma 4 at most 0.043, a JPEG re-encode at quality 75 at most 0.055, any contrast rescale at
most 0.007 (a 1-pixel shift, 0.45 median, is not a near duplicate here). The default
threshold 0.06 therefore flags none of the 2.45e9 clean pairs and catches those copies.
The search itself is in :mod:`dataqual.checks.near_search`.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.duplicates import TRAIN_SPLIT
from dataqual.checks.near_search import (
    DEFAULT_MAX_NEIGHBOURS,
    DEFAULT_SEARCH_DIMS,
    closest_across,
    closest_earlier,
    near_pairs,
    project,
    unit_thumbnails,
)
from dataqual.checks.registry import Analyser, AnalyserSettings, Partner, register_analyser
from dataqual.profile import Profile

__all__ = ["NearDuplicates", "NearDuplicatesSettings", "near_pairs", "unit_thumbnails"]

log = logging.getLogger(__name__)


class NearDuplicatesSettings(AnalyserSettings):
    """Thresholds and search parameters of :class:`NearDuplicates`."""

    max_distance: float = Field(
        0.06, ge=0, le=2, description="Largest distance of two near-copy rows of one split."
    )
    leak_max_distance: float = Field(
        0.06, ge=0, le=2, description="Largest distance of a leaking training and evaluation row."
    )
    search_dims: int = Field(
        DEFAULT_SEARCH_DIMS, ge=1, le=196, description="Principal axes the k-d tree searches in."
    )
    max_neighbours: int = Field(
        DEFAULT_MAX_NEIGHBOURS, ge=1, description="Candidates kept per row (memory: rows x this)."
    )
    train_split: str = Field(
        TRAIN_SPLIT, min_length=1, description="Split whose near copies of other splits leak."
    )


@register_analyser
class NearDuplicates(Analyser[NearDuplicatesSettings]):
    """Adds ``near_duplicate_of`` (the closest earlier row of the same split within
    ``max_distance``), ``near_duplicate_distance``, ``near_leaks_into`` (for training rows: the
    closest evaluation row within ``leak_max_distance``) and ``near_leak_distance``.

    Exact copies (same content hash) are left to ``exact_duplicates``: only the first row
    of each (split, hash) takes part, and pairs with equal hashes are skipped. Rows without
    ink (blank images, caught by ``blank_image``) take no part either.
    """

    name: ClassVar[str] = "near_duplicates"
    Settings = NearDuplicatesSettings
    columns: ClassVar[tuple[str, ...]] = (
        "near_duplicate_of",
        "near_duplicate_distance",
        "near_leaks_into",
        "near_leak_distance",
    )
    partners: ClassVar[dict[str, Partner]] = {
        "near_duplicate": Partner("near_duplicate_of", "near duplicate of"),
    }

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        s = self.settings(context)
        df = profile.table
        n = len(df)
        if len(profile.thumbs) != n:
            raise ValueError(f"profile has {n} rows but {len(profile.thumbs)} thumbnails")
        split = df["split"].astype("string").fillna("").to_numpy(dtype=object)
        hashes = df["content_hash"].astype("string").fillna("").to_numpy(dtype=object)
        rows = _first_inked_copies(profile.thumbs, split, hashes)
        dup_partner = np.full(n, -1, np.int64)
        dup_dist = np.full(n, np.nan, np.float64)
        leak_partner, leak_dist = dup_partner.copy(), dup_dist.copy()
        if len(rows) >= 2:
            unit, _ = unit_thumbnails(profile.thumbs[rows])  # only the rows taking part
            projected = project(unit, s.search_dims, 0)
            found = _within_splits(projected, unit, split[rows], s)
            dup_partner[rows[found[0]]], dup_dist[rows[found[0]]] = rows[found[1]], found[2]
            is_train = split[rows] == s.train_split
            partner, dist = closest_across(
                projected,
                unit,
                np.flatnonzero(is_train),
                np.flatnonzero(~is_train),
                s.leak_max_distance,
                s.max_neighbours,
                hashes[rows],
            )
            ok = partner >= 0
            leak_partner[rows[ok]], leak_dist[rows[ok]] = rows[partner[ok]], dist[ok]
        log.info(
            "near duplicates: %d rows within %.3g, %d training rows within %.3g of evaluation rows",
            int((dup_partner >= 0).sum()),
            s.max_distance,
            int((leak_partner >= 0).sum()),
            s.leak_max_distance,
        )
        ids = df["id"].astype("string").to_numpy(dtype=object)
        return Analysis(
            columns={
                "near_duplicate_of": _ids_or_na(ids, dup_partner),
                "near_duplicate_distance": dup_dist,
                "near_leaks_into": _ids_or_na(ids, leak_partner),
                "near_leak_distance": leak_dist,
            }
        )


def _first_inked_copies(thumbs: np.ndarray, split: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Rows with ink that are the first of their (split, hash), in row order.

    Equal hashes are equal images, so they are all inked or all blank: the first copy per
    (split, hash) is found among the inked rows only (none for all-blank data).
    """
    inked = np.flatnonzero(np.asarray(thumbs).any(axis=1))  # norm > 0, no float copy
    s_codes = pd.factorize(split[inked])[0].astype(np.int64)
    h_codes = pd.factorize(hashes[inked])[0].astype(np.int64)
    key = s_codes * (int(h_codes.max(initial=0)) + 1) + h_codes
    return np.sort(inked[np.unique(key, return_index=True)[1]])  # "earlier" is kept


def _within_splits(
    projected: np.ndarray, unit: np.ndarray, split: np.ndarray, s: NearDuplicatesSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, closest earlier row of its split, distance) for every row that has one."""
    rows, partners, dists = [], [], []
    for name in pd.unique(split):
        mine = np.flatnonzero(split == name)
        partner, dist = closest_earlier(
            projected[mine], unit[mine], s.max_distance, s.max_neighbours
        )
        found = partner >= 0
        rows.append(mine[found])
        partners.append(mine[partner[found]])
        dists.append(dist[found])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(rows), np.concatenate(partners), np.concatenate(dists)


def _ids_or_na(ids: np.ndarray, partner: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The id of each row's partner, NA where it has none."""
    return pd.array(np.where(partner >= 0, ids[np.maximum(partner, 0)], None), dtype="string")
