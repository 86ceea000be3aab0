"""Exact neighbour search of the label audit: faiss and scikit-learn agree with brute force."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from dataqual.checks.label_issues import LabelIssuesSettings, out_of_fold_probabilities
from dataqual.checks.neighbours import nearest_distances, resolve_search
from dataqual.errors import ConfigError
from tests.checks.test_label_issues import FLIPS, audit, flipped_profile


def brute_force(refs: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    d = np.sqrt(((queries[:, None, :].astype(np.float64) - refs[None]) ** 2).sum(axis=2))
    return np.sort(d, axis=1)[:, :k]


@pytest.mark.parametrize("search", ["faiss", "sklearn"])
def test_distances_equal_brute_force(search: str) -> None:
    rng = np.random.default_rng(0)
    refs = rng.normal(size=(300, 20)).astype(np.float32)
    queries = np.r_[rng.normal(size=(50, 20)), refs[:5]].astype(np.float32)  # 5 exact matches
    got = nearest_distances(refs, queries, 7, search)
    assert got.shape == (55, 7) and got.dtype == np.float32
    np.testing.assert_allclose(got, brute_force(refs, queries, 7), rtol=1e-4, atol=1e-3)
    assert (np.diff(got, axis=1) >= 0).all()
    np.testing.assert_allclose(got[-5:, 0], 0, atol=1e-3)


def test_auto_is_faiss_when_installed_and_a_missing_faiss_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert resolve_search("sklearn") == "sklearn"
    assert resolve_search("auto") == ("faiss" if importlib.util.find_spec("faiss") else "sklearn")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "faiss" else real(name, *a)
    )
    assert resolve_search("auto") == "sklearn"
    with pytest.raises(ConfigError, match="faiss-cpu"):
        resolve_search("faiss")


@pytest.mark.parametrize("model", ["knn", "knn_loo"])
def test_both_searches_give_the_same_audit(model: str) -> None:
    profile = flipped_profile()
    results = {s: audit(profile, model=model, search=s) for s in ("faiss", "sklearn")}
    ids = profile.table["id"].to_numpy(dtype=str)
    for search, analysis in results.items():
        assert set(ids[analysis.columns["label_issue"]]) == set(FLIPS)
        assert analysis.results[0].observed["search"] == search
    np.testing.assert_allclose(
        results["faiss"].columns["label_quality"],
        results["sklearn"].columns["label_quality"],
        atol=1e-5,
    )
    codes = np.arange(len(ids)) % 10
    probs = {
        s: out_of_fold_probabilities(
            profile.thumbs, codes, 10, LabelIssuesSettings(model=model, search=s)
        )[0]
        for s in ("faiss", "sklearn")
    }
    np.testing.assert_allclose(probs["faiss"], probs["sklearn"], atol=1e-5)
