"""The label audit: planted label flips rank first, odd labels and tiny datasets don't crash."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.label_issues import (
    QUEUE_COLUMNS,
    LabelIssues,
    LabelIssuesSettings,
    deskew_thumbnails,
    out_of_fold_probabilities,
)
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec
from tests.checks import make_profile, synthetic_images

SPEC = DatasetSpec()
#: id -> wrong label planted (true labels are position % 10).
FLIPS = {"train/3": 8, "train/57": 2, "train/140": 6, "test/24": 0}


def flipped_profile(extra_labels: tuple[int, ...] = ()) -> Profile:
    """200 train + 50 test rows of 10 separable classes with :data:`FLIPS` planted; rows with
    ``extra_labels`` (e.g. -1 = missing, 42 = not a class) are appended to test."""
    y_train = np.arange(200) % 10
    y_test = np.r_[np.arange(50) % 10, np.zeros(len(extra_labels), np.int64)]
    train, test = synthetic_images(y_train, seed=1), synthetic_images(y_test, seed=2)
    y_test[50:] = extra_labels
    for rid, label in FLIPS.items():
        split, pos = rid.split("/")
        (y_train if split == "train" else y_test)[int(pos)] = label
    return make_profile({"train": (train, y_train), "test": (test, y_test)})


def audit(profile: Profile, stage: str = "raw", **settings: object) -> Analysis:
    typed = LabelIssuesSettings.model_validate(settings)
    return LabelIssues().run(profile, AnalysisContext(stage=stage, spec=SPEC, settings=typed))


def test_planted_flips_are_flagged_and_rank_first() -> None:
    profile = flipped_profile()
    analysis = audit(profile)
    ids = profile.table["id"].to_numpy(dtype=str)
    assert set(ids[analysis.columns["label_issue"]]) == set(FLIPS)
    queue = analysis.artefacts["label_issues"]
    assert tuple(queue.columns) == QUEUE_COLUMNS
    assert len(queue) >= math.ceil(0.01 * len(ids))
    top = queue.head(len(FLIPS))
    assert set(top["id"]) == set(FLIPS)
    assert dict(zip(top["id"], top["given_label"], strict=True)) == FLIPS
    truth = {rid: int(rid.split("/")[1]) % 10 for rid in FLIPS}
    assert dict(zip(top["id"], top["suggested_label"], strict=True)) == truth
    assert queue["rank"].tolist() == list(range(1, len(queue) + 1))
    assert queue["score"].is_monotonic_increasing
    assert dict(zip(top["id"], top["split"], strict=True)) == {r: r.split("/")[0] for r in FLIPS}
    quality = pd.Series(analysis.columns["label_quality"], index=ids)
    assert quality[list(FLIPS)].max() < quality.drop(list(FLIPS)).min()
    # A flipped row can sway the suggestion for its nearest neighbours, never their flag.
    suggested = analysis.columns["suggested_label"].to_numpy(dtype=np.int64)
    assert (suggested == np.r_[np.arange(200), np.arange(50)] % 10).mean() >= 0.99
    result, accuracy = analysis.results
    assert result.name == "label_audit" and result.skipped is None
    assert result.observed["issues"] == len(FLIPS) and result.observed["folds"] == 5
    assert result.observed["issues_by_split"] == {"test": 1, "train": 3}
    assert accuracy.name == "label_accuracy" and accuracy.severity == "error"
    assert accuracy.success and accuracy.observed["oof_accuracy"] > 0.95


def test_labels_unrelated_to_images_fail_label_accuracy() -> None:
    profile = flipped_profile()
    shuffled = profile.table.assign(
        label=np.random.default_rng(1).permutation(profile.table["label"].to_numpy())
    )
    analysis = audit(replace(profile, table=shuffled))
    _, accuracy = analysis.results
    assert not accuracy.success and accuracy.skipped is None
    assert accuracy.observed["oof_accuracy"] < 0.3
    assert accuracy.observed["min_oof_accuracy"] == 0.5
    lenient = audit(replace(profile, table=shuffled), min_oof_accuracy=0.0)
    assert lenient.results[1].success


def test_logistic_model_finds_the_flips_too() -> None:
    analysis = audit(flipped_profile(), model="logistic", pca_components=20)
    assert set(analysis.artefacts["label_issues"]["id"].head(len(FLIPS))) == set(FLIPS)
    assert analysis.results[0].observed["model"] == "logistic"


def test_missing_and_foreign_labels_are_left_out() -> None:
    profile = flipped_profile(extra_labels=(-1, 42))
    analysis = audit(profile)
    odd = profile.table["id"].isin(["test/50", "test/51"]).to_numpy()
    assert profile.table["label"].isna().sum() == 1
    assert not analysis.columns["label_issue"][odd].any()
    assert np.isnan(analysis.columns["label_quality"][odd]).all()
    assert pd.isna(analysis.columns["suggested_label"][odd]).all()
    assert not analysis.artefacts["label_issues"]["id"].isin(["test/50", "test/51"]).any()
    assert analysis.results[0].observed["rows_excluded"] == 2
    assert set(profile.table["id"][analysis.columns["label_issue"]]) == set(FLIPS)


def test_tiny_dataset_with_a_singleton_class_runs_with_fewer_folds() -> None:
    y = np.repeat([0, 1, 2, 3], [30, 12, 6, 2])
    y[-1] = 4  # class 4 has one row
    profile = make_profile({"train": (synthetic_images(y), y)})
    analysis = audit(profile, folds=10)
    assert len(analysis.columns["label_issue"]) == 50
    result, _ = analysis.results
    assert result.skipped is None and result.observed["folds"] == 10
    two = np.arange(25) % 2
    analysis = audit(make_profile({"train": (synthetic_images(two), two)}), folds=20)
    assert analysis.results[0].observed["folds"] == 13  # largest class: 13 rows


@pytest.mark.parametrize(
    ("labels", "classes", "reason"),
    [
        (np.arange(19) % 3, 10, "only 19 rows"),
        (np.r_[np.zeros(30, np.int64), np.full(5, -1)], 10, "fewer than two classes"),
        (np.r_[np.arange(20), np.full(5, 42)], 20, "no class has two rows"),
    ],
)
def test_too_little_to_audit_is_skipped_with_a_reason(
    labels: np.ndarray, classes: int, reason: str
) -> None:
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 10:18, 10:18] = 200
    profile = make_profile({"train": (images, labels)})
    context = AnalysisContext(stage="raw", spec=DatasetSpec(classes=list(range(classes))))
    analysis = LabelIssues().analyse(profile, context)
    result, accuracy = analysis.results
    assert result.skipped is not None and reason in result.skipped
    assert accuracy.skipped == result.skipped and accuracy.success
    assert not analysis.columns["label_issue"].any() and not analysis.artefacts
    assert len(analysis.columns["label_quality"]) == len(labels)


def test_cleaned_stage_is_not_audited_by_default() -> None:
    analysis = audit(flipped_profile(), stage="cleaned")
    assert analysis.columns == {} and analysis.results == [] and analysis.artefacts == {}


def test_audit_is_deterministic() -> None:
    profile = flipped_profile()
    a, b = audit(profile), audit(profile)
    pd.testing.assert_frame_equal(a.artefacts["label_issues"], b.artefacts["label_issues"])


def test_out_of_fold_probabilities_are_distributions() -> None:
    profile = flipped_profile()
    codes = profile.table["label"].to_numpy(dtype=np.int64)
    settings = LabelIssuesSettings(bandwidth=0.5)
    probs, info = out_of_fold_probabilities(profile.thumbs, codes, 10, settings)
    assert probs.shape == (250, 10) and info["bandwidth"] == 0.5
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    logistic = LabelIssuesSettings(model="logistic", max_iter=50)
    probs, info = out_of_fold_probabilities(profile.thumbs, codes, 10, logistic)
    assert info["model"] == "logistic" and probs.shape == (250, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"model": "oracle"}, "model"),
        ({"bandwidth": "wide"}, "bandwidth"),
        ({"bandwidth": -1}, "bandwidth"),
        ({"neighbours": 0}, "neighbours"),
        ({"neighbors": 10}, "neighbors"),
    ],
)
def test_bad_settings_are_refused(settings: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        LabelIssuesSettings.model_validate(settings)


def test_deskew_straightens_a_slanted_bar() -> None:
    slanted = np.zeros((1, 14, 14), np.uint8)
    rows = np.arange(2, 12)
    slanted[0, rows, rows // 2 + 3] = 255  # a bar leaning right
    straight = deskew_thumbnails(slanted.reshape(1, -1)).reshape(14, 14)
    cols = (straight * np.arange(14)).sum(axis=1)[rows] / np.maximum(straight.sum(axis=1)[rows], 1)
    assert np.ptp(cols) < 1.5 < np.ptp(rows // 2 + 3)
    assert deskew_thumbnails(np.zeros((0, 196), np.uint8)).shape == (0, 196)


def test_leave_one_out_knn_finds_the_flips_and_handles_a_singleton_class() -> None:
    profile = flipped_profile()
    analysis = audit(profile, model="knn_loo")
    ids = profile.table["id"].to_numpy(dtype=str)
    assert set(ids[analysis.columns["label_issue"]]) == set(FLIPS)
    assert set(analysis.artefacts["label_issues"]["id"].head(len(FLIPS))) == set(FLIPS)
    result = analysis.results[0]
    assert result.observed["model"] == "knn_loo"
    assert result.observed["folds"] == "leave-one-out"
    again = audit(profile, model="knn_loo")
    pd.testing.assert_frame_equal(
        analysis.artefacts["label_issues"], again.artefacts["label_issues"]
    )
    y = np.repeat([0, 1, 2], [30, 19, 1])  # class 2: one row, no other row to compare with
    codes = np.searchsorted(np.unique(y), y)
    thumbs = make_profile({"train": (synthetic_images(y), y)}).thumbs
    probs, _ = out_of_fold_probabilities(thumbs, codes, 3, LabelIssuesSettings(model="knn_loo"))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[-1, 2] == 0.0


def scipy_deskew(thumbs: np.ndarray) -> np.ndarray:
    """The same shear resampled with scipy's ``map_coordinates`` (the oracle: dataqual's
    earlier implementation, float32 like it)."""
    from scipy import ndimage

    n, side = len(thumbs), math.isqrt(thumbs.shape[1])
    img = thumbs.astype(np.float32).reshape(n, side, side)
    r = np.arange(side, dtype=np.float32)
    total = img.sum(axis=(1, 2)) + 1e-6
    cy, cx = img.sum(axis=2) @ r / total, img.sum(axis=1) @ r / total
    dy, dx = r[None] - cy[:, None], r[None] - cx[:, None]
    var_y = np.einsum("nij,ni->n", img, dy**2) / total
    shear = np.einsum("nij,ni,nj->n", img, dy, dx) / total / np.maximum(var_y, 1e-6)
    centre = (side - 1) / 2
    rows, cols = np.meshgrid(r, r, indexing="ij")
    src_r = rows[None] + (cy - centre)[:, None, None]
    src_c = cols[None] + shear[:, None, None] * (rows[None] - centre) + (cx - centre)[:, None, None]
    index = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None], (n, side, side))
    out = ndimage.map_coordinates(img, [index, src_r, src_c], order=1, mode="constant")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(n, -1)


@pytest.mark.parametrize("side", [5, 14, 28])
def test_deskew_matches_scipy_map_coordinates(side: int) -> None:
    rng = np.random.default_rng(side)
    noise = rng.integers(0, 256, (2000, side * side)).astype(np.uint8)
    y = np.arange(200) % 10
    digits = synthetic_images(y, seed=3).reshape(200, 28, 28)[:, ::2, ::2].reshape(200, -1)
    sparse = noise * (rng.random(noise.shape) < 0.1)  # off-centre mass: big shifts and shears
    images = [noise, sparse] + ([digits] if side == 14 else [])
    for thumbs in images:
        ours, oracle = deskew_thumbnails(thumbs), scipy_deskew(thumbs)
        diff = np.abs(ours.astype(int) - oracle.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float32 rounding at .5 only
