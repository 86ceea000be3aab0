"""Near duplicates and near leakage on crafted datasets, and the analysers through real GX."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import dataqual.checks.near_search as near_module
from dataqual.checks.analysis import AnalysisContext
from dataqual.checks.near_duplicates import (
    NearDuplicates,
    NearDuplicatesSettings,
    near_pairs,
    unit_thumbnails,
)
from dataqual.checks.registry import analysers
from dataqual.clean import plan_cleaning
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec
from dataqual.validate import validate_profile
from dataqual.validate.gx_engine import GxValidator
from dataqual.validate.suites import load_suites
from tests.checks import make_profile, noisy_copy, synthetic_images

SPEC = DatasetSpec()


def planted() -> Profile:
    """train: 120 images with a noisy copy of 7 (at 100), an exact copy of 8 (101), a noisy
    copy of 8 (102) and two blank images (103, 104); test: 30 images with a dimmed noisy copy
    of train/20 (at 5) and an exact copy of train/21 (6)."""
    y_train = np.arange(105) % 10
    train = synthetic_images(y_train, seed=1)
    train[100], y_train[100] = noisy_copy(train[7], sigma=3), y_train[7]
    train[101], y_train[101] = train[8], y_train[8]
    train[102], y_train[102] = noisy_copy(train[8], sigma=2, seed=3), y_train[8]
    train[103:105], y_train[104] = 0, y_train[103]
    y_test = np.arange(30) % 10
    test = synthetic_images(y_test, seed=5)
    test[5], y_test[5] = noisy_copy(train[20], sigma=3, scale=0.8, seed=4), y_train[20]
    test[6], y_test[6] = train[21], y_train[21]
    return make_profile({"train": (train, y_train), "test": (test, y_test)})


def found(columns: dict[str, object], column: str, ids: pd.Series) -> dict[str, str]:
    values = pd.Series(columns[column], index=ids.to_numpy())
    return {str(k): str(v) for k, v in values.dropna().items()}


def test_near_pairs_is_exact_against_brute_force() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(60, 40))
    points = np.repeat(centres, 4, axis=0) + rng.normal(size=(240, 40)) * rng.uniform(
        0, 0.08, (240, 1)
    )
    unit = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    for radius, dims in ((0.05, 6), (0.1, 2), (0.1, 40)):
        i, j, d = near_pairs(unit, radius, dims)
        full = np.linalg.norm(unit[:, None] - unit[None], axis=2)
        bi, bj = np.nonzero(np.triu(full <= radius, k=1))
        assert set(zip(i.tolist(), j.tolist(), strict=True)) == set(
            zip(bi.tolist(), bj.tolist(), strict=True)
        )
        assert (i < j).all()
        np.testing.assert_allclose(d, full[i, j], atol=1e-5)
        assert len(bi) > 0


def test_unit_thumbnails_leave_blank_rows_out() -> None:
    unit, inked = unit_thumbnails(np.array([[0, 0, 0], [3, 4, 0]], np.uint8))
    assert inked.tolist() == [False, True]
    np.testing.assert_allclose(unit, [[0, 0, 0], [0.6, 0.8, 0]])


def test_planted_near_copies_and_leak_are_found_exactly() -> None:
    profile = planted()
    analysis = NearDuplicates().analyse(profile, AnalysisContext(stage="raw", spec=SPEC))
    ids = profile.table["id"]
    assert found(analysis.columns, "near_duplicate_of", ids) == {
        "train/100": "train/7",
        "train/102": "train/8",  # train/101 is an exact copy of 8: left to exact_duplicates
    }
    assert found(analysis.columns, "near_leaks_into", ids) == {"train/20": "test/5"}
    dist = pd.Series(analysis.columns["near_duplicate_distance"], index=ids.to_numpy())
    assert dist.notna().sum() == 2 and (dist.dropna() < 0.03).all()
    leak = pd.Series(analysis.columns["near_leak_distance"], index=ids.to_numpy())
    assert leak.dropna().index.tolist() == ["train/20"] and 0 < leak["train/20"] < 0.06
    assert all(len(v) == len(ids) for v in analysis.columns.values())


def test_thresholds_come_from_the_settings() -> None:
    profile = planted()
    tight = AnalysisContext(
        stage="raw",
        spec=SPEC,
        settings=NearDuplicatesSettings(max_distance=0.001, leak_max_distance=0.0),
    )
    analysis = NearDuplicates().analyse(profile, tight)
    assert pd.isna(analysis.columns["near_duplicate_of"]).all()
    assert pd.isna(analysis.columns["near_leaks_into"]).all()
    other = AnalysisContext(
        stage="raw", spec=SPEC, settings=NearDuplicatesSettings(train_split="test")
    )
    analysis = NearDuplicates().analyse(profile, other)
    assert found(analysis.columns, "near_leaks_into", profile.table["id"]) == {"test/5": "train/20"}


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_profiles(rows: int) -> None:
    y = np.zeros(rows, np.int64)
    profile = make_profile({"train": (synthetic_images(y), y)})
    analysis = NearDuplicates().analyse(profile, AnalysisContext(stage="raw", spec=SPEC))
    assert all(len(v) == rows for v in analysis.columns.values())


def test_validate_profile_with_the_suites_names_the_planted_rows() -> None:
    """Analysers + the repository's suites + a real GX run: findings name the planted ids."""
    profile = planted()
    y = profile.table["label"].to_numpy(dtype=np.int64, na_value=-1)
    flipped = {"train/30": 4, "train/41": 9, "test/12": 5}
    labels = profile.table["label"].copy()
    for rid, label in flipped.items():
        labels[profile.table["id"] == rid] = label
    profile = Profile(
        table=profile.table.assign(label=labels), thumbs=profile.thumbs, shape=profile.shape
    )
    assert (labels.to_numpy(dtype=np.int64) != y).sum() == 3
    wanted = {"duplicates", "near_duplicates", "label_issues", "drift"}
    suites = [s for s in load_suites() if s.name in wanted]
    assert {s.name for s in suites} == wanted
    enriched, report = validate_profile(
        profile,
        stage="raw",
        spec=SPEC,
        validator=GxValidator(),
        suites=suites,
        analysers=[cls() for cls in analysers().values()],
        reference=profile,
    )
    failed: dict[str, set[str]] = {}
    for r in report.results:
        if not r.success:
            failed.setdefault(r.name, set()).update(r.ids.tolist())
    assert failed == {
        "exact_duplicate": {"train/101", "train/104"},
        "leakage": {"train/21"},
        "near_duplicate": {"train/100", "train/102"},
        "near_leakage": {"train/20"},
        "label_issue": set(flipped),
    }
    by_name = {r.name: r for r in report.results}
    assert (by_name["near_leakage"].severity, by_name["near_leakage"].action) == ("error", "drop")
    assert (by_name["near_duplicate"].severity, by_name["near_duplicate"].action) == (
        "warning",
        "flag",
    )
    drift = [r for r in report.results if r.name.startswith("drift_") and r.engine == "dataqual"]
    assert len(drift) == 8 and all(r.success and r.observed["value"] == 0 for r in drift)
    assert not [r for r in report.results if r.name.startswith("drift_") and r.engine == "gx"]
    assert {"near_duplicate_of", "near_leaks_into", "label_issue", "label_quality"} <= set(
        enriched.table
    )
    queue = report.artefacts["label_issues"]
    assert set(queue["id"].head(3)) == set(flipped)
    plan = plan_cleaning(enriched.table["id"], report)
    removed = set(enriched.table["id"][plan.remove])
    assert removed == {"train/101", "train/104", "train/21", "train/20"}


def near_identical(n: int, seed: int = 0) -> np.ndarray:
    """``n`` distinct copies of one image, each with three ink pixels lowered by 1..3."""
    rng = np.random.default_rng(seed)
    base = synthetic_images(np.array([3]), seed=0)[0]
    images = np.repeat(base[None], n, axis=0).reshape(n, -1)
    ink = np.flatnonzero(base.ravel())
    for k in range(3):
        images[np.arange(n), ink[rng.integers(0, len(ink), n)]] -= np.uint8(k + 1)
    return images.reshape(n, *base.shape)


def test_thirty_thousand_near_identical_images_are_all_flagged() -> None:
    """Dense clusters keep O(rows x neighbours) pairs; still, every first copy after the first
    row has an earlier partner within the threshold, and every training row near the one test
    copy leaks into it."""
    n = 30_000
    train = near_identical(n)
    test = near_identical(1, seed=7)
    profile = make_profile({"train": (train, np.full(n, 3)), "test": (test, np.array([3]))})
    analysis = NearDuplicates().analyse(profile, AnalysisContext(stage="raw", spec=SPEC))
    table = profile.table.assign(**{k: v for k, v in analysis.columns.items()})
    rows = table[table["split"] == "train"]
    first = ~rows["content_hash"].duplicated().to_numpy()
    assert first.sum() > 25_000  # mostly distinct images: exact copies are left out
    partner = rows["near_duplicate_of"].to_numpy(dtype=object, na_value=None)
    flagged = np.array([p is not None for p in partner])
    assert not flagged[0] and flagged[first][1:].all() and not flagged[~first].any()
    position = rows["position"].to_numpy()
    earlier = np.array([int(p.split("/")[1]) for p in partner[flagged]])
    assert (earlier < position[flagged]).all()
    assert (rows["near_duplicate_distance"][flagged] <= 0.06).all()
    leaks = rows["near_leaks_into"].to_numpy(dtype=object, na_value=None)[first]
    assert set(leaks) == {"test/0"}


@pytest.mark.parametrize("cap", [3, 8])
def test_dense_rows_find_an_earlier_partner_like_brute_force(
    cap: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a tiny cap and leaf blocks, rows in clusters are dense: each row is flagged exactly
    when brute force finds an earlier row within the threshold, with such a row; rows with few
    candidates keep the exact closest one."""
    monkeypatch.setattr(near_module, "_BLOCK", 16)
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(6, 30))
    sizes = [40, 25, 3, 2, 1, 1]
    points = np.concatenate(
        [c + rng.normal(size=(k, 30)) * 0.004 for c, k in zip(centres, sizes, strict=True)]
    )
    points = points[rng.permutation(len(points))]  # clusters interleaved across blocks
    unit = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    radius = 0.05
    partner, dist = near_module.closest_earlier(near_module.project(unit, 6, 0), unit, radius, cap)
    full = np.linalg.norm(unit[:, None] - unit[None], axis=2)
    earlier = np.tril(full <= radius, k=-1)  # [j, i]: i < j within the radius
    assert ((partner >= 0) == earlier.any(axis=1)).all()
    got = np.flatnonzero(partner >= 0)
    assert (partner[got] < got).all() and (full[got, partner[got]] <= radius).all()
    np.testing.assert_allclose(dist[got], full[got, partner[got]], atol=1e-5)
    few = earlier.sum(axis=1) + np.triu(full <= radius, k=1).sum(axis=1) <= cap
    for j in np.flatnonzero(few & earlier.any(axis=1)):
        assert partner[j] == np.flatnonzero(earlier[j])[np.argmin(full[j, earlier[j]])]


def test_near_pairs_keeps_at_most_the_cap_per_row() -> None:
    n = 500
    unit = np.repeat(np.eye(1, 20, dtype=np.float32), n, axis=0)
    unit[:, 1] = np.linspace(0, 0.01, n, dtype=np.float32)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    i, j, d = near_pairs(unit, 0.06, max_neighbours=10)
    assert 0 < len(i) <= n * 10 and (i < j).all() and (d <= 0.06).all()
    assert len(np.unique(i * n + j)) == len(i)
    covered = np.zeros(n, bool)
    covered[i] = covered[j] = True
    assert covered.all()
