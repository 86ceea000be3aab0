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

Search: the unit vectors are projected on their top principal axes (an orthonormal
projection never lengthens a distance), a k-d tree lists every pair within the threshold
there (a superset), and each candidate is then measured exactly in all 196 dimensions.
About a second on 70k rows with the default threshold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.duplicates import TRAIN_SPLIT
from dataqual.profile import Profile

__all__ = [
    "DEFAULT_LEAK_MAX_DISTANCE",
    "DEFAULT_MAX_DISTANCE",
    "NearDuplicates",
    "near_pairs",
    "unit_thumbnails",
]

log = logging.getLogger(__name__)

#: Largest distance between two rows of one split that still counts as a near duplicate.
DEFAULT_MAX_DISTANCE = 0.06
#: Largest distance between a training row and an evaluation row that counts as near leakage.
DEFAULT_LEAK_MAX_DISTANCE = 0.06
#: Principal axes the k-d tree searches in: few enough for the tree to prune well, enough to
#: keep the candidate pairs few (6 axes: ~130k candidates at 0.06 on MNIST, measured exactly).
DEFAULT_SEARCH_DIMS = 6
#: Rows sampled to find the principal axes (any orthonormal basis keeps the search exact).
_PCA_SAMPLE = 5000
#: Candidate pairs measured per chunk, to bound memory.
_CHUNK = 262_144


def unit_thumbnails(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnails as float32 unit vectors, and a mask of rows with any ink (others are zero)."""
    x = np.array(thumbs, dtype=np.float32, ndmin=2)  # (n, 196), a copy
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    inked = norms > 0
    x[inked] /= norms[inked, None]
    x[~inked] = 0
    return x, inked


def near_pairs(
    unit: np.ndarray, radius: float, dims: int = DEFAULT_SEARCH_DIMS, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair ``i < j`` of rows of ``unit`` at Euclidean distance <= ``radius``, exactly.

    Returns the row indices ``i``, ``j`` and the distances, as arrays.
    """
    n, width = unit.shape
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if n < 2 or radius < 0:
        return empty
    rng = np.random.default_rng(seed)
    sample = unit[rng.choice(n, _PCA_SAMPLE, replace=False)] if n > _PCA_SAMPLE else unit
    centre = sample.mean(axis=0, dtype=np.float64)
    centred = sample - centre
    _, vectors = np.linalg.eigh(centred.T @ centred)  # 196 x 196: cheaper and steadier than an SVD
    axes = vectors[:, ::-1][:, : max(1, min(dims, width))].astype(np.float32)
    projected = ((unit - centre.astype(np.float32)) @ axes).astype(np.float64)
    # A small margin keeps pairs exactly at the radius despite float32 rounding.
    pairs = cKDTree(projected).query_pairs(radius * (1 + 1e-4) + 1e-6, output_type="ndarray")
    if not len(pairs):
        return empty
    i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    swap = i > j
    i[swap], j[swap] = j[swap], i[swap]
    dist = np.empty(len(i), np.float32)
    for start in range(0, len(i), _CHUNK):
        part = slice(start, start + _CHUNK)
        diff = unit[i[part]] - unit[j[part]]
        dist[part] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    keep = dist <= radius
    return i[keep], j[keep], dist[keep]


def _closest(
    rows: np.ndarray, partners: np.ndarray, dist: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``n`` rows, its closest partner (-1 if none) and the distance (NaN if none)."""
    partner = np.full(n, -1, np.int64)
    best = np.full(n, np.nan, np.float64)
    if len(rows):
        order = np.lexsort((partners, dist, rows))  # by row, then distance, then partner
        first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
        partner[rows[first]] = partners[first]
        best[rows[first]] = dist[first]
    return partner, best


@dataclass(frozen=True)
class NearDuplicates:
    """Adds ``near_duplicate_of`` (the closest earlier row of the same split within
    ``max_distance``), ``near_duplicate_distance``, ``near_leaks_into`` (for training rows: the
    closest evaluation row within ``leak_max_distance``) and ``near_leak_distance``.

    Exact copies (same content hash) are left to :class:`ExactDuplicates`: only the first row
    of each (split, hash) takes part, and pairs with equal hashes are skipped. Rows without
    ink (blank images, caught by ``blank_image``) take no part either.

    Settings: ``max_distance``, ``leak_max_distance``, ``search_dims``, ``train_split``.
    """

    name: str = "near_duplicates"

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        settings: dict[str, Any] = context.settings
        max_distance = float(settings.get("max_distance", DEFAULT_MAX_DISTANCE))
        leak_distance = float(settings.get("leak_max_distance", DEFAULT_LEAK_MAX_DISTANCE))
        dims = int(settings.get("search_dims", DEFAULT_SEARCH_DIMS))
        train = str(settings.get("train_split", TRAIN_SPLIT))
        df = profile.table
        n = len(df)
        if len(profile.thumbs) != n:
            raise ValueError(f"profile has {n} rows but {len(profile.thumbs)} thumbnails")
        split = df["split"].astype("string").fillna("").to_numpy(dtype=object)
        hashes = df["content_hash"].astype("string").fillna("").to_numpy(dtype=object)
        unit, inked = unit_thumbnails(profile.thumbs)
        first_copy = ~pd.DataFrame({"s": split, "h": hashes}).duplicated().to_numpy()
        rows = np.flatnonzero(inked & first_copy)  # ascending: "earlier" is kept
        i, j, dist = near_pairs(unit[rows], max(max_distance, leak_distance), dims)
        i, j = rows[i], rows[j]
        distinct = hashes[i] != hashes[j]
        i, j, dist = i[distinct], j[distinct], dist[distinct]
        same = split[i] == split[j]
        within = same & (dist <= max_distance)
        dup_partner, dup_dist = _closest(j[within], i[within], dist[within], n)
        i_train, j_train = split[i] == train, split[j] == train
        leak = ~same & (i_train ^ j_train) & (dist <= leak_distance)
        t_rows = np.where(i_train, i, j)[leak]
        e_rows = np.where(i_train, j, i)[leak]
        leak_partner, leak_dist = _closest(t_rows, e_rows, dist[leak], n)
        ids = df["id"].astype("string").to_numpy(dtype=object)
        log.info(
            "near duplicates: %d rows within %.3g, %d training rows within %.3g of evaluation rows",
            int((dup_partner >= 0).sum()),
            max_distance,
            int((leak_partner >= 0).sum()),
            leak_distance,
        )
        return Analysis(
            columns={
                "near_duplicate_of": _ids_or_na(ids, dup_partner),
                "near_duplicate_distance": dup_dist,
                "near_leaks_into": _ids_or_na(ids, leak_partner),
                "near_leak_distance": leak_dist,
            }
        )


def _ids_or_na(ids: np.ndarray, partner: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The id of each row's partner, NA where it has none."""
    return pd.array(np.where(partner >= 0, ids[np.maximum(partner, 0)], None), dtype="string")
