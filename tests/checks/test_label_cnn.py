"""The ``cnn`` label-audit model: real Keras training per fold on tiny synthetic thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from dataqual.checks.label_cnn import cnn_probabilities
from dataqual.checks.label_model import LabelIssuesSettings
from dataqual.errors import ConfigError
from dataqual.profile_pixels import thumbnails
from tests.checks import synthetic_images


def settings(epochs: int, batch: int = 32, seed: int = 0) -> LabelIssuesSettings:
    return LabelIssuesSettings(model="cnn", seed=seed, cnn_epochs=epochs, cnn_batch_size=batch)


def features(labels: np.ndarray, seed: int) -> np.ndarray:
    """Flat 14x14 thumbnails in 0..1 of the synthetic class patterns, as the audit gives them."""
    return thumbnails(synthetic_images(labels, seed=seed)).astype(np.float32) / 255.0


@pytest.mark.slow
def test_planted_flips_get_low_given_label_probability() -> None:
    truth = np.arange(300) % 10
    x = features(truth, seed=3)
    given = truth.copy()
    flipped = 7 + 31 * np.arange(10)  # 10 rows, one per class, spread over the 3 folds
    given[flipped] = (truth[flipped] + 1 + np.arange(10) % 9) % 10
    part = np.arange(300) % 3
    folds = [(np.flatnonzero(part != f), np.flatnonzero(part == f)) for f in range(3)]
    probs, info = cnn_probabilities(x, given, folds, 10, settings(epochs=8))
    assert probs.shape == (300, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    p_given = probs[np.arange(300), given]
    clean = np.setdiff1d(np.arange(300), flipped)
    assert p_given[flipped].max() < 0.5 < p_given[clean].mean()
    assert set(np.argsort(p_given)[:10]) == set(flipped)  # the flips rank first
    assert (probs[flipped].argmax(axis=1) == truth[flipped]).all()  # and the true class is found
    assert info["device"] in {"gpu", "cpu"}
    assert info["epochs"] == 8 and info["batch_size"] == 32


@pytest.mark.slow
def test_no_row_is_predicted_by_a_model_that_saw_it_and_runs_repeat() -> None:
    """Two halves label the same two patterns oppositely: a model trained on the other half
    gives each row's own label almost no probability, one that saw the row would give ~0.5."""
    import keras

    pattern = np.arange(120) % 2
    x = features(pattern, seed=5)
    half = np.arange(120) < 60
    given = np.where(half, pattern, 1 - pattern)
    a, b = np.flatnonzero(half), np.flatnonzero(~half)
    folds = [(a, b), (b, a)]
    probs, info = cnn_probabilities(x, given, folds, 2, settings(epochs=6, seed=4))
    p_given = probs[np.arange(120), given]
    assert p_given.max() < 0.2, p_given.max()
    again, _ = cnn_probabilities(x, given, folds, 2, settings(epochs=6, seed=4))
    np.testing.assert_allclose(again, probs, atol=1e-5)  # same seed, same probabilities
    assert info["backend"] == keras.config.backend()
    gpu = any(d.startswith("gpu") for d in keras.distribution.list_devices())
    assert info["device"] == ("gpu" if gpu else "cpu")


def test_pca_features_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ConfigError, match="cnn: needs flat square thumbnails"):
        cnn_probabilities(np.zeros((10, 50), np.float32), np.zeros(10, int), [], 2, settings(1))
