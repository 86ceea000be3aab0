"""Drift against a reference profile and class balance, on crafted label and pixel shifts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataqual.checks.analysis import AnalysisContext
from dataqual.checks.balance import ClassBalance
from dataqual.checks.base import CheckResult
from dataqual.checks.drift import (
    DRIFT_CHECKS,
    MEAN_THUMBNAILS_ATTR,
    Drift,
    DriftSettings,
    mean_thumbnails,
)
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec
from tests.checks import make_profile, synthetic_images

SPEC = DatasetSpec()


def dataset(keep_class0: float = 1.0, scale: float = 1.0, seed: int = 1) -> Profile:
    """train: 2000 rows, test: 500 rows, 10 balanced classes; optionally only a share of the
    class-0 training rows kept, or every image's pixels scaled."""
    y_train, y_test = np.arange(2000) % 10, np.arange(500) % 10
    train = synthetic_images(y_train, seed=seed)
    test = synthetic_images(y_test, seed=seed + 1)
    zeros = np.flatnonzero(y_train == 0)
    keep = np.ones(2000, bool)
    keep[zeros[int(len(zeros) * keep_class0) :]] = False
    scaled = [np.clip(np.rint(x * scale), 0, 255).astype(np.uint8) for x in (train[keep], test)]
    return make_profile({"train": (scaled[0], y_train[keep]), "test": (scaled[1], y_test)})


def drift(
    profile: Profile, reference: Profile | None, **settings: object
) -> dict[tuple[str, str | None], CheckResult]:
    typed = DriftSettings.model_validate(settings)
    context = AnalysisContext(stage="raw", spec=SPEC, settings=typed, reference=reference)
    return {(r.name, r.split): r for r in Drift().run(profile, context).results}


def fired(results: dict[tuple[str, str | None], CheckResult]) -> set[tuple[str, str | None]]:
    return {key for key, r in results.items() if not r.success}


def test_without_a_reference_every_drift_check_is_skipped() -> None:
    results = drift(dataset(), None)
    assert set(results) == {(name, None) for name in DRIFT_CHECKS}
    assert all(r.success and r.skipped == "no reference profile given" for r in results.values())


def test_the_reference_itself_does_not_drift_and_values_are_reported() -> None:
    profile = dataset()
    results = drift(profile, profile)
    assert set(results) == {(n, s) for n in DRIFT_CHECKS for s in ("train", "test")}
    assert not fired(results)
    for r in results.values():
        assert (
            r.skipped is None
            and r.observed["value"] == 0
            and r.observed["reference_split"] == r.split
        )
    labels = results[("drift_labels", "train")].observed
    assert labels["shares"] == labels["reference_shares"] and labels["shares"][0] == 0.1
    # Another sample of the same distribution stays under every threshold too.
    assert not fired(drift(dataset(seed=7), profile))


def test_a_shifted_label_distribution_fires_the_label_check() -> None:
    results = drift(dataset(keep_class0=0.2), dataset())
    # Fewer zeros also shift the mean image (each class has its own pattern); nothing else.
    assert ("drift_labels", "train") in fired(results)
    assert fired(results) <= {("drift_labels", "train"), ("drift_mean_image", "train")}
    observed = results[("drift_labels", "train")].observed
    assert observed["shares"][0] == pytest.approx(40 / 1840, abs=1e-5)
    assert observed["value"] == pytest.approx(0.1 - 40 / 1840, abs=1e-5)
    assert observed["max"] == 0.02 and 0 < observed["noise"] < 0.05
    assert observed["limit"] == pytest.approx(observed["max"] + observed["noise"])


def test_dimmed_images_fire_the_pixel_checks() -> None:
    results = drift(dataset(scale=0.6), dataset())
    assert fired(results) == {
        (name, split)
        for name in ("drift_intensity", "drift_image_stats", "drift_mean_image")
        for split in ("train", "test")
    }
    assert results[("drift_image_stats", "train")].observed["worst"] in {"mean", "std"}
    assert results[("drift_mean_image", "test")].observed["value"] > 4


def test_a_parquet_reference_compares_its_stored_mean_thumbnails(tmp_path: Path) -> None:
    reference = dataset()
    path = tmp_path / "profile.parquet"
    reference.table.to_parquet(path, index=False)
    table_only = Profile(
        table=pd.read_parquet(path), thumbs=reference.thumbs[:0], shape=reference.shape
    )
    results = drift(dataset(scale=0.6), table_only)
    assert results[("drift_mean_image", "train")].skipped.startswith(
        "the reference has no thumbnails"
    )
    assert ("drift_intensity", "train") in fired(results)
    table = reference.table.copy()
    table.attrs[MEAN_THUMBNAILS_ATTR] = mean_thumbnails(reference)
    table.to_parquet(path, index=False)
    stored = Profile(
        table=pd.read_parquet(path), thumbs=reference.thumbs[:0], shape=reference.shape
    )
    assert set(stored.table.attrs[MEAN_THUMBNAILS_ATTR]) == {"train", "test", "*"}
    assert ("drift_mean_image", "train") in fired(drift(dataset(scale=0.6), stored))
    assert drift(reference, stored)[("drift_mean_image", "train")].observed["value"] == 0


def test_a_split_missing_from_the_reference_is_compared_with_all_of_it() -> None:
    reference = dataset()
    train_only = Profile(
        table=reference.table[reference.table["split"] == "train"].reset_index(drop=True),
        thumbs=reference.thumbs[:2000],
        shape=reference.shape,
    )
    results = drift(reference, train_only)
    assert results[("drift_labels", "test")].observed["reference_split"] == "*"
    assert not fired(results)


def test_thresholds_and_stages_come_from_the_settings() -> None:
    results = drift(dataset(seed=7), dataset(), label_tvd_max=0.0, severity="error")
    assert ("drift_labels", "train") not in fired(results)  # same shares: TVD exactly 0
    results = drift(dataset(keep_class0=0.5), dataset(), label_tvd_max=0.0, severity="error")
    assert ("drift_labels", "train") in fired(results)
    assert results[("drift_labels", "train")].severity == "error"
    context = AnalysisContext(stage="cleaned", spec=SPEC, reference=dataset())
    assert Drift().run(dataset(), context).results == []  # drift runs at raw only by default
    cleaned = DriftSettings(stages=("raw", "cleaned"))
    context = AnalysisContext(stage="cleaned", spec=SPEC, settings=cleaned, reference=dataset())
    assert Drift().run(dataset(), context).results


def test_class_balance() -> None:
    profile = dataset(keep_class0=0.1)  # class 0: 20 of 1820 training rows (1.1 %)
    results = ClassBalance().analyse(profile, AnalysisContext(stage="cleaned", spec=SPEC)).results
    by_split = {r.split: r for r in results}
    assert not by_split["train"].success and by_split["train"].severity == "error"
    assert by_split["train"].observed["below"] == [0]
    assert by_split["train"].observed["smallest_share"] == pytest.approx(20 / 1820, abs=1e-5)
    assert by_split["test"].success and by_split["test"].observed["shares"][3] == 0.1
    lenient = DatasetSpec(min_class_share=0.01)
    results = ClassBalance().analyse(profile, AnalysisContext(stage="raw", spec=lenient)).results
    assert all(r.success for r in results)


def test_class_balance_ignores_absent_classes_and_missing_labels() -> None:
    y = np.r_[np.arange(40) % 2, np.full(3, -1), 42]  # classes 0 and 1, 3 unlabelled, 1 foreign
    profile = make_profile({"train": (synthetic_images(y % 10), y)})
    (result,) = ClassBalance().analyse(profile, AnalysisContext(stage="raw", spec=SPEC)).results
    assert result.success and result.element_count == 40
    assert result.observed["shares"][0] == 0.5 and result.observed["shares"][9] == 0
    assert 42 not in result.observed["shares"]


def test_drift_has_one_engine_the_analyser() -> None:
    """The drift suite turns the analyser on and holds no GX expectation of its own."""
    from dataqual.validate import GxValidator, load_suites, validate_profile

    suites = [s for s in load_suites() if s.name == "drift"]
    assert suites[0].expectations == []
    reference = dataset()
    _, report = validate_profile(
        dataset(keep_class0=0.1, scale=0.5),
        stage="raw",
        spec=SPEC,
        validator=GxValidator(),
        suites=suites,
        reference=reference,
    )
    assert {r.engine for r in report.results} == {"dataqual"}
    assert {r.name for r in report.results} == set(DRIFT_CHECKS)
    fired = {(r.name, r.split) for r in report.results if not r.success}
    assert ("drift_labels", "train") in fired and ("drift_intensity", "test") in fired
