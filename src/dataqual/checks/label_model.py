"""The out-of-fold model of the label audit, and the audit's settings.

``class_knn`` (the default, alias ``knn``) is a class-conditional nearest-neighbour kernel on
deskewed, PCA-reduced thumbnails; ``knn_loo`` the same kernel with leave-one-out references
(every other row of the class); ``logistic`` is multinomial logistic regression; ``mlp`` a
one-hidden-layer sklearn ``MLPClassifier`` (slower); ``cnn`` a small Keras convnet per fold
on the deskewed thumbnails (:mod:`dataqual.checks.label_cnn`; a GPU when Keras sees one);
``ensemble`` the mean of knn and mlp.
Each gives every row class probabilities from a model fitted on the other folds (see
:mod:`dataqual.checks.label_issues`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from dataqual.checks.label_cnn import PIXEL_MODELS, cnn_probabilities
from dataqual.checks.neighbours import Search, nearest_distances, resolve_search
from dataqual.checks.registry import AnalyserSettings, Stage

__all__ = ["MODELS", "LabelIssuesSettings", "deskew_thumbnails", "out_of_fold_probabilities"]

_FilterBy = Literal[
    "both",
    "prune_by_class",
    "prune_by_noise_rate",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
]


class LabelIssuesSettings(AnalyserSettings):
    """Settings of the ``label_issues`` analyser (MNIST measurements: docs/quality.md)."""

    stages: tuple[Stage, ...] = Field(
        ("raw",), description="Stages audited; the audit is slow and cleaning keeps flagged rows."
    )
    model: Literal["class_knn", "knn", "knn_loo", "logistic", "mlp", "cnn", "ensemble"] = Field(
        "class_knn",
        description="Out-of-fold probability model: class_knn (alias knn, the default), "
        "knn_loo (class_knn with leave-one-out references), logistic, mlp (sklearn "
        "MLPClassifier, slower), cnn (a small Keras convnet per fold on the deskewed "
        "thumbnails; a GPU when Keras sees one; slowest on a CPU) or ensemble (mean of knn "
        "and mlp).",
    )
    relabel_threshold: float = Field(
        0.9,
        ge=0.5,
        le=1,
        description="A flagged row gets relabel_to (the suggested class) when the out-of-fold "
        "probability of that class is at least this (used by the relabel action).",
    )
    hidden: int = Field(128, ge=1, le=4096, description="mlp: hidden units (one layer).")
    epochs: int = Field(
        30, ge=1, le=1000, description="mlp: most training epochs (early stopping from 1000 rows)."
    )
    cnn_epochs: int = Field(6, ge=1, le=100, description="cnn: training epochs per fold.")
    cnn_batch_size: int = Field(256, ge=1, le=65536, description="cnn: training batch size.")
    folds: int = Field(5, ge=2, le=100, description="K of the stratified K-fold split.")
    deskew: bool = Field(True, description="Straighten slanted digits first (+0.4 % on MNIST).")
    pca_components: int = Field(50, ge=0, description="PCA components of the thumbnails (0: none).")
    neighbours: int = Field(10, ge=1, le=1000, description="class_knn: training rows per class.")
    search: Search = Field(
        "auto",
        description="class_knn/knn_loo: exact neighbour search with faiss (auto: when "
        "faiss-cpu is installed; faster) or sklearn; the same distances either way.",
    )
    bandwidth: float | Literal["auto"] = Field(
        "auto", description="class_knn: relative kernel width, or 'auto' (least log loss)."
    )
    max_iter: int = Field(300, ge=1, description="logistic: solver iterations.")
    filter_by: _FilterBy = Field("both", description="cleanlab.filter.find_label_issues filter_by.")
    frac_noise: float = Field(
        1.0, gt=0, le=1, description="cleanlab.filter.find_label_issues frac_noise."
    )
    score_method: Literal["self_confidence", "normalized_margin", "confidence_weighted_entropy"] = (
        Field("self_confidence", description="cleanlab.rank.get_label_quality_scores method.")
    )
    max_quality: float = Field(
        0.1,
        ge=0,
        le=1,
        description="A flag also needs a label quality score at most this (0.001 finds only "
        "38 % of planted flips).",
    )
    queue_fraction: float = Field(
        0.01, ge=0, le=1, description="The review queue holds at least this share of scored rows."
    )
    min_rows: int = Field(20, ge=2, description="Fewer labelled rows than this: no audit.")
    min_oof_accuracy: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Out-of-fold accuracy below this is a label_accuracy error (shuffled labels "
        "score about 1/classes).",
    )
    seed: int = Field(0, ge=0, description="Seed of the folds and the PCA.")

    @field_validator("bandwidth", mode="before")
    @classmethod
    def _auto_or_positive(cls, value: Any) -> Any:
        if value == "auto" or (
            isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        ):
            return value
        raise ValueError(f"{value!r} is not 'auto' or a positive number")


#: Candidate relative bandwidths for ``bandwidth: auto``.
_SCALES = np.geomspace(0.1, 1.0, 11)
_TINY = 1e-12

Folds = list[tuple[np.ndarray, np.ndarray]]


def deskew_thumbnails(thumbs: np.ndarray) -> np.ndarray:
    """Square thumbnails sheared so that each digit's main axis is vertical and centred.

    The shear comes from the image moments (covariance of row and column over the row
    variance), the classic MNIST deskew; vectorised over images in chunks (scipy's
    ``map_coordinates`` with ``mode="constant"`` gives the same pixels, to rounding, 2-3x
    slower).
    """
    n = len(thumbs)
    if n == 0:
        return np.asarray(thumbs, np.uint8)
    side = math.isqrt(thumbs.shape[1])
    img = np.asarray(thumbs, np.float32).reshape(n, side, side)
    r = np.arange(side, dtype=np.float32)
    total = img.sum(axis=(1, 2)) + 1e-6
    cy = img.sum(axis=2) @ r / total
    cx = img.sum(axis=1) @ r / total
    dy = r[None, :] - cy[:, None]
    dx = r[None, :] - cx[:, None]
    var_y = np.einsum("nij,ni->n", img, dy**2) / total
    cov = np.einsum("nij,ni,nj->n", img, dy, dx) / total
    shear = cov / np.maximum(var_y, 1e-6)
    centre = (side - 1) / 2
    shift_r = cy - centre  # per image: source row = output row + shift_r
    shift_c = shear[:, None] * (r - centre) + (cx - centre)[:, None]  # per image and row
    out = np.empty((n, side * side), np.uint8)
    for start in range(0, n, _DESKEW_CHUNK):  # chunks keep the temporaries in cache
        part = slice(start, start + _DESKEW_CHUNK)
        out[part] = _resample(img[part], shift_r[part], shift_c[part]).reshape(-1, side * side)
    return out


#: Images resampled at a time by :func:`deskew_thumbnails` (14x14: about 3 MB a temporary).
_DESKEW_CHUNK = 4096


def _resample(img: np.ndarray, shift_r: np.ndarray, shift_c: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` (n x side x side) at (i + shift_r[n], j + shift_c[n, i]),
    0 outside the image, rounded to uint8.

    Both source coordinates move by a constant along an output row, so the resampling is two
    gathers of shifted rows and a blend with one weight per row. Indices are clipped, not
    padded: a clipped one only feeds pixels masked below or carries a zero weight.
    """
    n, side = len(img), img.shape[1]
    r = np.arange(side, dtype=np.float32)  # float32 like the shifts, as scipy had it
    top = np.floor(shift_r)
    upper = np.clip(top.astype(np.int64)[:, None] + np.arange(side), 0, side - 1)
    lower = np.minimum(upper + 1, side - 1)
    image = np.arange(n)[:, None]
    rows = img[image, upper]
    rows += (shift_r - top).astype(np.float32)[:, None, None] * (img[image, lower] - rows)
    left = np.floor(shift_c)
    cols = left.astype(np.int64)[:, :, None] + np.arange(side + 1)
    np.clip(cols, 0, side - 1, out=cols)
    picked = np.take_along_axis(rows, cols, axis=2)  # n x side x side+1
    w_c = (shift_c - left).astype(np.float32)[:, :, None]
    out = picked[:, :, :-1] + w_c * (picked[:, :, 1:] - picked[:, :, :-1])
    src_r = r + shift_r[:, None]
    src_c = r + shift_c[:, :, None]
    inside = ((src_r >= 0) & (src_r <= side - 1))[:, :, None] & (src_c >= 0) & (src_c <= side - 1)
    out[~inside] = 0  # map_coordinates' "constant": nothing is sampled beyond the edges
    return np.rint(out, out=out).astype(np.uint8)  # a blend of 0..255 stays in 0..255


def _class_knn(
    features: np.ndarray,
    codes: np.ndarray,
    folds: Folds,
    n_classes: int,
    settings: LabelIssuesSettings,
) -> tuple[np.ndarray, dict[str, Any]]:
    m, search = settings.neighbours, resolve_search(settings.search)
    dist = np.full((len(codes), n_classes, m), np.inf, np.float32)
    for train, test in folds:  # folds x classes searches; each query is vectorised
        queries = features[test]
        for c in range(n_classes):
            ref = train[codes[train] == c]
            k = min(m, len(ref))
            if k and len(test):
                dist[test, c, :k] = nearest_distances(features[ref], queries, k, search)
    probs, info = _kernel_probabilities(dist, codes, settings)
    return probs, {**info, "search": search}


def _class_knn_loo(
    features: np.ndarray,
    codes: np.ndarray,
    folds: Folds,
    n_classes: int,
    settings: LabelIssuesSettings,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``class_knn`` with leave-one-out references: every other row of the class (the row
    itself dropped), one search per class instead of one per fold and class; ``folds`` unused."""
    m, search = settings.neighbours, resolve_search(settings.search)
    dist = np.full((len(codes), n_classes, m), np.inf, np.float32)
    for c in range(n_classes):
        own = codes == c
        refs = features[own]
        if not len(refs):
            continue
        # One search of all rows, one neighbour more than needed: a row of class c is its
        # own nearest reference and drops it; the others keep the first m.
        found = nearest_distances(refs, features, min(m + 1, len(refs)), search)
        k, k_own = min(m, len(refs)), min(m, len(refs) - 1)
        dist[~own, c, :k] = found[~own, :k]
        dist[own, c, :k_own] = found[own, 1 : k_own + 1]
    probs, info = _kernel_probabilities(dist, codes, settings)
    return probs, {**info, "folds": "leave-one-out", "search": search}


def _kernel_probabilities(
    dist: np.ndarray, codes: np.ndarray, settings: LabelIssuesSettings
) -> tuple[np.ndarray, dict[str, Any]]:
    """Class probabilities of the relative-bandwidth kernel on per-class neighbour distances
    ``dist`` (rows x classes x neighbours, inf where a class has fewer neighbours)."""
    m = settings.neighbours
    d2 = dist.astype(np.float64) ** 2
    d0 = d2[:, :, 0].min(axis=1)
    excess = (d2 - d0[:, None, None]) / np.maximum(d0, _TINY)[:, None, None]  # >= 0; inf if absent

    def probs(scale: float, excess: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", under="ignore"):
            w = excess * excess.dtype.type(-1 / (2 * scale**2))
            np.exp(w, out=w)
        # Sums over the short last axes as matrix-vector products (BLAS, not per-row loops).
        w = w.reshape(-1, w.shape[2]) @ np.ones(w.shape[2], w.dtype)
        w = w.reshape(excess.shape[:2])
        return w / (w @ np.ones(w.shape[1], w.dtype))[:, None]

    if settings.bandwidth == "auto":
        # The search in float32 (SIMD exp, ~10x faster); a given-class probability below
        # float32's range is clipped to _TINY in float64 too, so the losses agree to rounding.
        rows, fast = np.arange(len(codes)), excess.astype(np.float32)
        losses = [
            -np.log(np.maximum(probs(s, fast)[rows, codes], _TINY)).mean(dtype=np.float64)
            for s in _SCALES
        ]
        scale = float(_SCALES[int(np.argmin(losses))])
    else:
        scale = float(settings.bandwidth)
    return probs(scale, excess), {"bandwidth": round(scale, 4), "neighbours": m}


def _per_fold(
    features: np.ndarray, codes: np.ndarray, folds: Folds, n_classes: int, make: Callable[[], Any]
) -> np.ndarray:
    """Out-of-fold probabilities of a fresh sklearn classifier ``make()`` per fold."""
    probs = np.zeros((len(codes), n_classes))
    for train, test in folds:
        seen = np.unique(codes[train])
        if len(seen) < 2:
            probs[np.ix_(test, seen)] = 1.0
            continue
        model = make()
        model.fit(features[train], codes[train])
        probs[np.ix_(test, seen)] = model.predict_proba(features[test])
    return probs


def _logistic(
    features: np.ndarray,
    codes: np.ndarray,
    folds: Folds,
    n_classes: int,
    settings: LabelIssuesSettings,
) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def make() -> Any:
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=settings.max_iter))

    return _per_fold(features, codes, folds, n_classes, make), {}


def _mlp(
    features: np.ndarray,
    codes: np.ndarray,
    folds: Folds,
    n_classes: int,
    settings: LabelIssuesSettings,
) -> tuple[np.ndarray, dict[str, Any]]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    def make() -> Any:
        return MLPClassifier(
            (settings.hidden,),
            max_iter=settings.epochs,
            early_stopping=len(codes) >= 1000,
            random_state=settings.seed,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probs = _per_fold(features, codes, folds, n_classes, make)
    return probs, {"hidden": settings.hidden}


def _ensemble(
    features: np.ndarray,
    codes: np.ndarray,
    folds: Folds,
    n_classes: int,
    settings: LabelIssuesSettings,
) -> tuple[np.ndarray, dict[str, Any]]:
    knn, info = _class_knn(features, codes, folds, n_classes, settings)
    mlp, more = _mlp(features, codes, folds, n_classes, settings)
    return (knn + mlp) / 2, {**info, **more}


#: Out-of-fold probability models by name: (features, class codes, folds, classes, settings).
MODELS: dict[str, Callable[..., tuple[np.ndarray, dict[str, Any]]]] = {
    "class_knn": _class_knn,
    "knn": _class_knn,
    "knn_loo": _class_knn_loo,
    "logistic": _logistic,
    "mlp": _mlp,
    "cnn": cnn_probabilities,
    "ensemble": _ensemble,
}


def out_of_fold_probabilities(
    thumbs: np.ndarray, codes: np.ndarray, n_classes: int, settings: LabelIssuesSettings
) -> tuple[np.ndarray, dict[str, Any]]:
    """Predicted class probabilities of every row from a model fitted on the other folds.

    ``codes`` are class indices ``0..n_classes-1``; the folds are stratified and shuffled with
    ``settings.seed``; K is reduced to the size of the largest class when that is smaller.
    """
    from sklearn.decomposition import PCA
    from sklearn.model_selection import StratifiedKFold

    s = settings
    if s.deskew:
        thumbs = deskew_thumbnails(thumbs)
    features = np.asarray(thumbs, np.float32) / 255.0
    components = min(s.pca_components, len(features) - 1, features.shape[1])
    if s.model in PIXEL_MODELS:  # a convnet needs the images, not their PCA components
        components = 0
    if components > 0:
        with np.errstate(invalid="ignore", divide="ignore"):  # constant images: 0/0 variance ratio
            pca = PCA(components, random_state=s.seed)
            features = pca.fit_transform(features).astype(np.float32)
    k = max(2, min(s.folds, int(np.bincount(codes).max())))
    with warnings.catch_warnings():  # "least populated class has only n members" is expected
        warnings.simplefilter("ignore", UserWarning)
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=s.seed)
        folds = list(splitter.split(features, codes))
    probs, info = MODELS[s.model](features, codes, folds, n_classes, s)
    return probs, {"model": s.model, "folds": k, "pca_components": components, **info}
