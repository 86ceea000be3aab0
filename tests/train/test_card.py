"""The model card of real shards: card.json's keys and values, card.md's sections."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dataqual.train.card import write_model_card
from dataqual.train.trainer import TrainConfig
from tests.helpers import make_shards

METRICS = {
    "test_accuracy": 0.9,
    "epochs": 3,
    "train_rows": 60,
    "test_rows": 20,
    "final_train_loss": 0.31,
    "backend": "tensorflow",
    "per_class_accuracy": {"0": 1.0, "1": 0.8},
    "confusion_matrix": [[10, 0], [2, 8]],
    "most_wrong": [{"id": "test-1", "label": 1, "predicted": 0, "confidence": 0.9}],
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (60, 6, 5), dtype=np.uint8), np.arange(60) % 2
    tx, ty = rng.integers(0, 256, (20, 6, 5), dtype=np.uint8), np.arange(20) % 2
    return make_shards(tmp_path_factory.mktemp("card") / "shards", x, y, tx, ty)


def test_card_records_data_version_settings_metrics_and_limits(
    shards: Path, tmp_path: Path
) -> None:
    config = TrainConfig(epochs=3, seed=7)
    manifest = shards / "manifest.json"
    paths = write_model_card(
        tmp_path / "model",
        metrics=METRICS,
        manifest_path=manifest,
        validation_status="passed",
        config=config,
        exports={"keras": "model.keras", "inference": "inference"},
    )
    assert paths == (tmp_path / "model" / "card.json", tmp_path / "model" / "card.md")
    card = json.loads(paths[0].read_text())
    assert set(card) == {
        "data",
        "validation_status",
        "training",
        "metrics",
        "per_class_accuracy",
        "exports",
        "limitations",
    }
    assert card["data"]["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert card["data"]["image_shape"] == [6, 5]
    assert card["data"]["splits"] == {"train": 60, "test": 20}
    assert card["validation_status"] == "passed"
    assert card["training"] == config.model_dump(mode="json")
    assert card["metrics"]["test_accuracy"] == 0.9 and "confusion_matrix" not in card["metrics"]
    assert card["per_class_accuracy"] == {"0": 1.0, "1": 0.8}
    limits = " ".join(card["limitations"])
    assert "'test' split" in limits and "20 rows of 6x5" in limits
    assert "Weakest class: 1, 80.00%" in limits
    assert "±13.15%" in limits  # 1.96 * sqrt(0.9 * 0.1 / 20)
    assert "forced" not in limits

    md = paths[1].read_text()
    sections = [line[3:] for line in md.splitlines() if line.startswith("## ")]
    assert sections == [
        "Data",
        "Validation",
        "Training settings",
        "Metrics",
        "Per-class accuracy",
        "Exports",
        "Known limitations",
    ]
    assert card["data"]["manifest_sha256"] in md
    assert "| 1 | 80.00% |" in md and "| seed | 7 |" in md
    assert not [p.name for p in (tmp_path / "model").iterdir() if p.name.endswith(".tmp")]


def test_card_of_forced_training_says_the_data_failed(shards: Path, tmp_path: Path) -> None:
    json_path, md_path = write_model_card(
        tmp_path,
        metrics={**METRICS, "forced": True},
        manifest_path=shards,  # the folder works too
        validation_status="failed",
        config=TrainConfig(force=True),
    )
    card = json.loads(json_path.read_text())
    assert card["validation_status"] == "failed" and card["metrics"]["forced"] is True
    assert "training was forced" in card["limitations"][-1]
    assert "**failed**" in md_path.read_text()
