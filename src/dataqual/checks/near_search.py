"""Near-pair search on unit thumbnails: exact within a radius, O(rows x neighbours) memory.

The unit vectors are projected on their top principal axes (an orthonormal projection never
lengthens a distance), a k-d tree lists each row's nearest rows within the threshold there (a
superset), and each candidate is then measured exactly in all 196 dimensions. About a second
on 70k rows at radius 0.06.

Each row keeps at most ``max_neighbours`` candidates (256; the densest MNIST row has 128 at
0.06 in 6 axes, so clean data is searched exhaustively and the result is exact). A row with
more candidates sits in a dense cluster (thousands of near-identical images): it is still
compared with its nearest candidates and, for "the closest earlier row", with the nearest
earlier rows of every block of a binary decomposition of the rows before it, so every such
row that has an earlier row within the threshold among those is flagged; its partner is then
the closest found, not necessarily the closest of all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

__all__ = [
    "DEFAULT_MAX_NEIGHBOURS",
    "DEFAULT_SEARCH_DIMS",
    "closest_across",
    "closest_earlier",
    "near_pairs",
    "project",
    "unit_thumbnails",
]

log = logging.getLogger("dataqual.checks.near_duplicates")

#: Principal axes the k-d tree searches in: few enough for the tree to prune well, enough to
#: keep the candidate pairs few (6 axes: ~130k candidates at 0.06 on MNIST, measured exactly).
DEFAULT_SEARCH_DIMS = 6
#: Rows sampled to find the principal axes (any orthonormal basis keeps the search exact).
_PCA_SAMPLE = 5000
#: Candidates kept per row: memory is O(rows x this), and clean data stays exhaustive.
DEFAULT_MAX_NEIGHBOURS = 256
#: Earlier rows taken from each block when a dense row looks for an earlier partner.
_DENSE_NEIGHBOURS = 16
#: Rows per leaf block of the decomposition of "the rows before this one" (brute force there).
_BLOCK = 2048
#: Query rows per k-d tree call, and candidate pairs measured per chunk, to bound memory.
_QUERY_CHUNK = 2048
_CHUNK = 32_768


def _kd_tree(points: np.ndarray) -> cKDTree:
    from scipy.spatial import cKDTree  # imported on first use: loading suites stays fast

    return cKDTree(points)


def unit_thumbnails(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thumbnails as float32 unit vectors, and a mask of rows with any ink (others are zero)."""
    x = np.array(thumbs, dtype=np.float32, ndmin=2)  # (n, 196), a copy
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))
    inked = norms > 0
    x[inked] /= norms[inked, None]
    x[~inked] = 0
    return x, inked


def project(unit: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """``unit`` on its top ``dims`` principal axes (float64), from a seeded sample."""
    n, width = unit.shape
    rng = np.random.default_rng(seed)
    sample = unit[rng.choice(n, _PCA_SAMPLE, replace=False)] if n > _PCA_SAMPLE else unit
    centre = sample.mean(axis=0, dtype=np.float64)
    centred = sample - centre
    _, vectors = np.linalg.eigh(centred.T @ centred)  # 196 x 196: cheaper and steadier than an SVD
    axes = vectors[:, ::-1][:, : max(1, min(dims, width))].astype(np.float32)
    return ((unit - centre.astype(np.float32)) @ axes).astype(np.float64)


def _search_radius(radius: float) -> float:
    """A small margin keeps pairs exactly at the radius despite float32 rounding."""
    return radius * (1 + 1e-4) + 1e-6


def _distances(a: np.ndarray, i: np.ndarray, b: np.ndarray, j: np.ndarray) -> np.ndarray:
    """``||a[i] - b[j]||`` per pair, in chunks so the gathered rows stay small."""
    dist = np.empty(len(i), np.float32)
    for start in range(0, len(i), _CHUNK):
        part = slice(start, start + _CHUNK)
        diff = a[i[part]] - b[j[part]]
        dist[part] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return dist


def _knn(
    tree: cKDTree, points: np.ndarray, k: int, radius: float
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per chunk of query rows: (query row, tree row) of each candidate among the ``k``
    nearest within ``radius``, and the query rows whose ``k`` slots all filled (dense)."""
    k = max(1, min(k, tree.n))
    for start in range(0, len(points), _QUERY_CHUNK):
        chunk = points[start : start + _QUERY_CHUNK]
        _, idx = tree.query(chunk, k=k, distance_upper_bound=radius)
        idx = idx.reshape(len(chunk), k)
        found = idx < tree.n
        q, slot = np.nonzero(found)
        yield q + start, idx[q, slot].astype(np.int64), np.flatnonzero(found[:, -1]) + start


def near_pairs(
    unit: np.ndarray,
    radius: float,
    dims: int = DEFAULT_SEARCH_DIMS,
    seed: int = 0,
    max_neighbours: int = DEFAULT_MAX_NEIGHBOURS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of rows of ``unit`` at Euclidean distance <= ``radius``: every such
    pair when no row has more than ``max_neighbours`` candidates (otherwise each row's
    nearest ones). Returns the row indices ``i``, ``j`` and the distances, as arrays."""
    n = len(unit)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if n < 2 or radius < 0:
        return empty
    projected = project(unit, dims, seed)
    tree = _kd_tree(projected)
    keys = []
    for q, m, _ in _knn(tree, projected, max_neighbours + 1, _search_radius(radius)):
        other = q != m  # a pair may come from both of its rows: keyed by (lower, higher)
        keys.append(np.unique(np.minimum(q, m)[other] * n + np.maximum(q, m)[other]))
    pair = np.unique(np.concatenate(keys))
    if not len(pair):
        return empty
    i, j = pair // n, pair % n
    dist = _distances(unit, i, unit, j)
    keep = dist <= radius
    return i[keep], j[keep], dist[keep]


class _Best:
    """The closest partner per row seen so far (ties: the lower partner index), updated from
    batches of candidate pairs so that no more than one batch is held at a time."""

    def __init__(self, n: int) -> None:
        self.partner = np.full(n, -1, np.int64)
        self.dist = np.full(n, np.nan, np.float64)

    def update(self, rows: np.ndarray, partners: np.ndarray, dist: np.ndarray) -> None:
        if not len(rows):
            return
        order = np.lexsort((partners, dist, rows))  # by row, then distance, then partner
        first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
        r, p, d = rows[first], partners[first], dist[first].astype(np.float64)
        old_p, old_d = self.partner[r], self.dist[r]
        better = (old_p < 0) | (d < old_d) | ((d == old_d) & (p < old_p))
        self.partner[r[better]] = p[better]
        self.dist[r[better]] = d[better]


def _earlier_blocks(rows: np.ndarray) -> Iterator[tuple[np.ndarray, int, int]]:
    """Cover "the rows before ``r``" for each ``r`` in ``rows`` by aligned blocks of
    ``_BLOCK * 2**level`` rows (the binary digits of ``r // _BLOCK``): yields (query rows,
    block start, block end) for every block, O(log n) blocks per row."""
    whole = rows // _BLOCK
    for level in range(int(whole.max()).bit_length() if len(rows) else 0):
        has = (whole >> level) & 1 == 1
        starts = (whole[has] >> (level + 1)) << (level + 1)
        for start in np.unique(starts):
            yield rows[has][starts == start], int(start) * _BLOCK, (int(start) + 2**level) * _BLOCK


def _dense_earlier(
    projected: np.ndarray, dense: np.ndarray, radius: float, k: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Candidate (row, earlier row) pairs for the ``dense`` rows: the ``k`` nearest earlier
    rows within ``radius`` (projected) of each block covering the rows before each row."""
    leaf = dense // _BLOCK
    for b in np.unique(leaf):  # rows of the row's own leaf block: brute force
        queries = dense[leaf == b]
        lo = int(b) * _BLOCK
        block = projected[lo : lo + _BLOCK]
        block_sq = np.einsum("ij,ij->i", block, block)
        for start in range(0, len(queries), 256):
            q = queries[start : start + 256]
            near_q = projected[q]
            d = np.einsum("ij,ij->i", near_q, near_q)[:, None] + block_sq - 2 * near_q @ block.T
            d[(lo + np.arange(len(block)))[None, :] >= q[:, None]] = np.inf
            d[d > radius**2] = np.inf  # squared distances: only a superset filter
            kk = min(k, len(block))
            near = np.argpartition(d, kk - 1, axis=1)[:, :kk]
            ok = np.isfinite(np.take_along_axis(d, near, axis=1))
            qi, slot = np.nonzero(ok)
            yield q[qi], lo + near[qi, slot]
    for queries, lo, hi in _earlier_blocks(dense):
        tree = _kd_tree(projected[lo:hi])
        for q, m, _ in _knn(tree, projected[queries], k, radius):
            yield queries[q], lo + m


def closest_earlier(
    projected: np.ndarray, unit: np.ndarray, radius: float, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the closest earlier row within ``radius`` (exact) and the distance."""
    n = len(unit)
    best = _Best(n)
    if n < 2:
        return best.partner, best.dist
    search = _search_radius(radius)
    dense_parts = []
    for q, m, full in _knn(_kd_tree(projected), projected, k + 1, search):
        earlier = m < q
        q, m = q[earlier], m[earlier]
        dist = _distances(unit, m, unit, q)
        ok = dist <= radius
        best.update(q[ok], m[ok], dist[ok])
        dense_parts.append(full)
    dense = np.concatenate(dense_parts)
    if len(dense):
        log.warning(
            "near duplicates: %d rows have more than %d candidates within %.3g; their "
            "closest earlier row is searched among the nearest ones",
            len(dense),
            k,
            radius,
        )
        for q, m in _dense_earlier(projected, dense, search, _DENSE_NEIGHBOURS):
            dist = _distances(unit, m, unit, q)
            ok = dist <= radius
            best.update(q[ok], m[ok], dist[ok])
    return best.partner, best.dist


def closest_across(
    projected: np.ndarray,
    unit: np.ndarray,
    rows: np.ndarray,
    others: np.ndarray,
    radius: float,
    k: int,
    hashes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows``, the closest of ``others`` within ``radius`` (exact) that is not
    an exact copy (same hash), as indices into the full arrays, and the distance."""
    best = _Best(len(unit))
    if not (len(rows) and len(others)):
        return best.partner, best.dist
    tree = _kd_tree(projected[others])
    for q, m, _ in _knn(tree, projected[rows], k, _search_radius(radius)):
        q, m = rows[q], others[m]
        distinct = hashes[q] != hashes[m]
        q, m = q[distinct], m[distinct]
        dist = _distances(unit, q, unit, m)
        ok = dist <= radius
        best.update(q[ok], m[ok], dist[ok])
    return best.partner, best.dist
