"""The report's Model section: written empty before training, filled in after it (inside a
run and by ``dataqual train --run``), with the confusion matrix, per-class accuracy, curves
and the most-wrong images (marked when they are in the label-issue queue)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataqual.config import RunConfig
from dataqual.outputs import train_finished_run
from dataqual.report.model import MODEL_END, MODEL_START, ModelResults, refresh_model_section
from dataqual.run import run_pipeline
from dataqual.testing import fake_dataset, write_idx_dataset
from dataqual.train.trainer import TrainConfig
from tests.report.test_html import MiniRun, decoded_images

METRICS = {
    "test_accuracy": 0.8,
    "epochs": 2,
    "train_rows": 37,
    "test_rows": 10,
    "images_per_second": 1234.5,
    "per_class_accuracy": {"0": 1.0, "1": 0.5},
    "confusion_matrix": [[5, 0], [2, 3]],
    "history": {"loss": [0.9, 0.4], "accuracy": [0.6, 0.85], "seconds": [1.0, 0.5]},
    "most_wrong": [
        {"id": "test/3", "label": 1, "predicted": 0, "confidence": 0.97},
        {"id": "test/5", "label": 1, "predicted": 0, "confidence": 0.61},
    ],
}


def model_part(page: str) -> str:
    assert page.count(MODEL_START) == 1 and page.count(MODEL_END) == 1
    return page[page.index(MODEL_START) : page.index(MODEL_END)]


def outside(page: str) -> str:
    return page[: page.index(MODEL_START)] + page[page.index(MODEL_END) :]


def test_before_training_the_section_says_why_there_is_no_model(tmp_path: Path) -> None:
    page = MiniRun(tmp_path).write()
    part = model_part(page)
    assert 'id="model"' in part and "--no-train" in part
    assert 'href="#model"' in page and "confusion-matrix" not in part
    refused = ModelResults(None, "refused", "Training was refused: the data failed validation.")
    refresh_model_section(tmp_path / "report.html", tmp_path / "shards", refused)
    after = (tmp_path / "report.html").read_text()
    assert "Training was refused: the data failed validation." in model_part(after)
    assert outside(after) == outside(page)  # the rest of the page is kept byte for byte


def test_refresh_fills_in_the_model_and_marks_the_label_queue(tmp_path: Path) -> None:
    mini = MiniRun(tmp_path)
    queue = pd.DataFrame({"id": ["test/5"], "given_label": [1], "suggested_label": [0]})
    page = mini.write(label_issues=queue)
    refresh_model_section(
        tmp_path / "report.html",
        mini.shards,
        ModelResults(METRICS, "done", queue_ids=frozenset({"test/5"})),
    )
    after = (tmp_path / "report.html").read_text()
    assert outside(after) == outside(page)
    assert not list(tmp_path.glob(".report.html.*"))  # written atomically, nothing left over
    part = model_part(after)
    assert "80.00%" in part  # test accuracy
    rows = re.findall(r"<tr><th scope=\"row\">(\d)</th>(.*?)</tr>", part)
    cells = [[int(c) for c in re.findall(r">(\d+)</td>", cols)] for _, cols in rows]
    assert cells == [[5, 0], [2, 3]]  # rows are the true labels
    assert re.search(r'data-class="1">.*?50\.00%', part)
    assert part.count('<svg class="chart"') == 2  # loss and accuracy per epoch
    tiles = re.findall(r'<figure class="tile wrong-tile" data-in-queue="(\w+)">', part)
    assert tiles == ["false", "true"]  # test/5 is in the label-issue queue
    shown = decoded_images(part)
    for rid in ("test/3", "test/5"):
        assert np.array_equal(shown[rid][0], mini.images[rid])
    assert 'given <b class="given">1</b> → <b class="sugg">0</b>' in part


def small_source(folder: Path) -> Path:
    fake = fake_dataset({"train": 200, "test": 60}, seed=3)
    return write_idx_dataset(folder, fake.data, gz=False)


@pytest.mark.slow  # imports TensorFlow and trains
def test_train_finished_run_refreshes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_pipeline(RunConfig(source=small_source(tmp_path / "src"), out=out, train=False))
    run = json.loads((out / "run.json").read_text())
    before = (out / run["report"]).read_text()
    assert "--no-train" in model_part(before)

    config = TrainConfig(epochs=1, batch_size=32, force=True, input_pipeline="numpy")
    metrics = train_finished_run(out, config)
    after = (out / run["report"]).read_text()
    part = model_part(after)
    assert outside(after) == outside(before)
    assert f"{metrics['test_accuracy']:.2%}" in part
    assert 'id="confusion-matrix"' in part and 'id="per-class-accuracy"' in part
    assert len(re.findall(r'<tr><th scope="row">', part)) == len(metrics["confusion_matrix"])
    wrong = metrics["most_wrong"]
    assert len(re.findall(r'class="tile wrong-tile"', part)) == len(wrong)
    assert set(decoded_images(part)) == {w["id"] for w in wrong}
    assert json.loads((out / "run.json").read_text())["training"] in {"done", "forced"}
