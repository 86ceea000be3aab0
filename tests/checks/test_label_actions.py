"""Label cleaning that acts: flag keeps today's behaviour (tests/test_run_digest.py), drop
quarantines a planted flip, relabel gives it the out-of-fold model's confident class and keeps
the original in the findings; --clean-labels overrides the suite; bad settings name the file
and the key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataqual.checks.analysis import AnalysisContext
from dataqual.checks.label_actions import relabel_expectation, with_label_action
from dataqual.checks.label_issues import LabelIssues, LabelIssuesSettings
from dataqual.clean import apply_repairs
from dataqual.config import RunConfig
from dataqual.errors import ConfigError, DataqualError
from dataqual.imageset import ImageBatch
from dataqual.run import run_pipeline
from dataqual.spec import DatasetSpec
from dataqual.validate import load_suites
from dataqual.validate.suites import default_suites_dir
from tests.checks import synthetic_images
from tests.checks.test_label_issues import FLIPS, flipped_profile
from tests.helpers import make_idx_dataset

#: The planted flip the end-to-end runs follow: train/3 is class 3, labelled 8.
FLIP_ID, FLIP_GIVEN, FLIP_TRUE = "train/3", 8, 3


def audit(**settings: object) -> dict:
    typed = LabelIssuesSettings.model_validate(settings)
    context = AnalysisContext(stage="raw", spec=DatasetSpec(), settings=typed)
    return LabelIssues().run(flipped_profile(), context).columns


def test_relabel_to_marks_confident_flips_only() -> None:
    ids = flipped_profile().table["id"].to_numpy(dtype=str)
    confident = audit(relabel_threshold=0.5)
    relabel = dict(zip(ids, confident["relabel_to"], strict=True))
    assert {rid: int(relabel[rid]) for rid in FLIPS} == {
        rid: int(rid.split("/")[1]) % 10 for rid in FLIPS
    }
    marked = np.asarray(pd.notna(confident["relabel_to"]), bool)
    assert marked.sum() == len(FLIPS)
    assert not (marked & ~confident["label_issue"]).any()


def test_relabel_repair_sets_the_label_and_keeps_pixels() -> None:
    images = synthetic_images(np.arange(4) % 10)
    batch = ImageBatch(
        split="train",
        ids=np.array([f"train/{i}" for i in range(4)]),
        labels=np.array([0, 1, 2, 3]),
        images=images,
        positions=np.arange(4),
    )
    fixed = apply_repairs(batch, {"relabel_7": np.array([False, True, False, True])})
    assert fixed.labels.tolist() == [0, 7, 2, 7]
    assert np.array_equal(fixed.images, images)


def test_with_label_action_rewrites_the_label_suite() -> None:
    suites = load_suites()
    assert with_label_action(suites, None) == suites

    def actions(chosen: list) -> dict[str, tuple[str, str | None]]:
        return {
            m.check: (str(m.action), m.repair)
            for s in chosen
            for _, m in s.expectations
            if m.check in ("label_issue", "label_relabel")
        }

    assert actions(with_label_action(suites, "flag")) == {"label_issue": ("flag", None)}
    assert actions(with_label_action(suites, "drop")) == {"label_issue": ("drop", None)}
    assert actions(with_label_action(suites, "relabel")) == {
        "label_issue": ("flag", None),
        "label_relabel": ("repair", "relabel"),
    }
    with pytest.raises(ConfigError, match="--clean-labels 'fix' is not one of flag, drop"):
        with_label_action(suites, "fix")


def test_bad_label_settings_name_the_file_and_key(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    shutil.copytree(default_suites_dir(), suites)
    path = suites / "label_issues.json"
    doc = json.loads(path.read_text())
    doc["meta"]["dataqual"]["analysers"]["label_issues"] |= {"relabel_threshold": 0.2}
    path.write_text(json.dumps(doc))
    with pytest.raises(DataqualError) as caught:
        load_suites(suites)
    message = str(caught.value)
    assert "\n" not in message
    assert "label_issues.json" in message and "relabel_threshold" in message


def _dataset(tmp_path: Path) -> Path:
    y_train, y_test = np.arange(200) % 10, np.arange(50) % 10
    x_train, x_test = synthetic_images(y_train, seed=1), synthetic_images(y_test, seed=2)
    given = y_train.copy()
    given[int(FLIP_ID.split("/")[1])] = FLIP_GIVEN
    return make_idx_dataset(tmp_path / "data", x_train, given, x_test, y_test)


def _suites(tmp_path: Path, action: str) -> Path:
    """The shipped suites with the label action written in label_issues.json."""
    suites = tmp_path / "suites"
    shutil.copytree(default_suites_dir(), suites)
    path = suites / "label_issues.json"
    doc = json.loads(path.read_text())
    doc["meta"]["dataqual"]["analysers"]["label_issues"] |= {"relabel_threshold": 0.5}
    if action == "relabel":
        doc["expectations"].append(relabel_expectation())
    else:
        doc["expectations"][0]["meta"]["action"] = action
    path.write_text(json.dumps(doc))
    return suites


def _run(tmp_path: Path, action: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    out = tmp_path / "out"
    config = RunConfig(
        source=_dataset(tmp_path), out=out, train=False, suites_dir=_suites(tmp_path, action)
    )
    assert run_pipeline(config).exit_code == 0
    shards = pd.concat(pd.read_parquet(p) for p in sorted(out.glob("shards/train/*.parquet")))
    quarantine = out / "quarantine.parquet"
    removed = pd.read_parquet(quarantine) if quarantine.is_file() else pd.DataFrame({"id": []})
    return shards, removed, pd.read_parquet(out / "findings.parquet")


@pytest.mark.parametrize("action", ["drop", "relabel"])
def test_label_action_end_to_end(tmp_path: Path, action: str) -> None:
    shards, removed, findings = _run(tmp_path, action)
    labels = dict(zip(shards["id"], shards["label"], strict=True))
    issue = findings[(findings["id"] == FLIP_ID) & (findings["check"] == "label_issue")]
    assert len(issue) == 1
    if action == "drop":
        assert FLIP_ID not in labels and FLIP_ID in set(removed["id"])
        return
    assert FLIP_ID not in set(removed["id"])
    assert labels[FLIP_ID] == FLIP_TRUE
    relabel = findings[(findings["id"] == FLIP_ID) & (findings["check"] == "label_relabel")]
    assert relabel["detail"].tolist() == [f"relabel_to={FLIP_TRUE}"]
    queue = pd.read_parquet(tmp_path / "out" / "label_issues.parquet")
    assert queue.set_index("id").loc[FLIP_ID, "given_label"] == FLIP_GIVEN


@pytest.mark.parametrize("model", ["mlp", "ensemble"])
def test_opt_in_models_give_out_of_fold_probabilities(model: str) -> None:
    from dataqual.checks.label_issues import out_of_fold_probabilities

    labels = np.arange(100) % 5
    thumbs = synthetic_images(labels, n_classes=5).reshape(100, -1)
    settings = LabelIssuesSettings(model=model, folds=2, pca_components=10, epochs=200)
    probs, info = out_of_fold_probabilities(thumbs, labels, 5, settings)
    assert probs.shape == (100, 5) and np.allclose(probs.sum(axis=1), 1)
    assert info["model"] == model and (probs.argmax(axis=1) == labels).mean() > 0.8
