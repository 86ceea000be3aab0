"""A bad suite is refused by ``load_suites`` in one line naming the file, the key and the
problem (with the allowed keys or values), fast, and by the run's preflight before any work."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dataqual.config import RunConfig
from dataqual.errors import ConfigError
from dataqual.validate.suites import default_suites_dir, load_suites

Doc = dict[str, Any]


def shipped_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "suites"
    shutil.copytree(default_suites_dir(), folder)
    return folder


def edit(folder: Path, name: str, change: Callable[[Doc], None]) -> Path:
    path = folder / f"{name}.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    return path


def dataqual(doc: Doc) -> Doc:
    return doc["meta"]["dataqual"]


def set_label_setting(key: str, value: Any) -> Callable[[Doc], None]:
    return lambda doc: dataqual(doc)["analysers"]["label_issues"].__setitem__(key, value)


LABEL = "meta.dataqual.analysers.label_issues"
CASES: list[tuple[str, str, Callable[[Doc], None], str]] = [
    (
        "unknown-key",
        "label_issues",
        set_label_setting("neighbors", 10),
        f"{LABEL}.neighbors: unknown key (allowed: stages, notes, model, relabel_threshold, "
        "hidden, epochs, cnn_epochs, cnn_batch_size, folds, deskew, pca_components, neighbours, "
        "search, bandwidth, max_iter, "
        "filter_by, frac_noise, score_method, max_quality, queue_fraction, min_rows, "
        "min_oof_accuracy, seed)",
    ),
    (
        "wrong-type",
        "label_issues",
        set_label_setting("neighbours", "ten"),
        f"{LABEL}.neighbours: 'ten' is not an integer",
    ),
    (
        "out-of-range",
        "label_issues",
        set_label_setting("neighbours", 0),
        f"{LABEL}.neighbours: 0 is out of range (allowed: >= 1 and <= 1000)",
    ),
    (
        "bad-choice",
        "label_issues",
        set_label_setting("model", "oracle"),
        f"{LABEL}.model: 'oracle' is not allowed (allowed: 'class_knn', 'knn', 'knn_loo', "
        "'logistic', 'mlp', 'cnn' or 'ensemble')",
    ),
    (
        "bad-bandwidth",
        "label_issues",
        set_label_setting("bandwidth", "wide"),
        f"{LABEL}.bandwidth: 'wide' is not 'auto' or a positive number",
    ),
    (
        "bad-stage",
        "drift",
        lambda doc: dataqual(doc)["analysers"]["drift"].__setitem__("stages", ["raw", "clean"]),
        "meta.dataqual.analysers.drift.stages[1]: 'clean' is not allowed "
        "(allowed: 'raw' or 'cleaned')",
    ),
    (
        "unknown-analyser",
        "drift",
        lambda doc: dataqual(doc)["analysers"].__setitem__("drifts", {}),
        "meta.dataqual.analysers.drifts: unknown analyser (registered: exact_duplicates, "
        "near_duplicates, label_issues, drift, class_balance",
    ),
    (
        "missing-analyser",
        "duplicates",
        lambda doc: dataqual(doc).pop("analysers"),
        "expectations[0].kwargs: check 'exact_duplicate': column 'duplicate_of' comes from "
        "analyser 'exact_duplicates', which no suite turns on",
    ),
    (
        "unknown-repair",
        "accuracy",
        lambda doc: doc["expectations"][10]["meta"].__setitem__("repair", "unflip"),
        "expectations[10].meta.repair: unknown repair 'unflip' (registered: ",
    ),
    (
        "unknown-column",
        "accuracy",
        lambda doc: doc["expectations"][9]["kwargs"].__setitem__("column", "sdt"),
        "expectations[9].kwargs: check 'blank_image': column 'sdt' is neither a profile column "
        "nor added by an analyser",
    ),
    (
        "stages-not-covered",
        "label_issues",
        lambda doc: dataqual(doc).__setitem__("stages", ["raw", "cleaned"]),
        "expectations[0].kwargs: check 'label_issue': reads 'label_issue' at stage cleaned, "
        "but analyser 'label_issues' runs only at raw",
    ),
    (
        "unknown-expectation-meta",
        "accuracy",
        lambda doc: doc["expectations"][0]["meta"].__setitem__("severty", "error"),
        "expectations[0].meta.severty: unknown key (allowed: check, description, severity, "
        "action, repair, stages, notes)",
    ),
    (
        "unknown-threshold-key",
        "accuracy",
        lambda doc: dataqual(doc)["thresholds"]["com_row"].__setitem__("kk", 3),
        "meta.dataqual.thresholds.com_row.kk: unknown key (allowed: method, k, floor_low, "
        "cap_high, limit_from_height, max_share)",
    ),
]


@pytest.mark.parametrize(
    ("name", "change", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_suite_names_file_key_and_problem(
    tmp_path: Path, name: str, change: Callable[[Doc], None], problem: str
) -> None:
    folder = shipped_copy(tmp_path)
    path = edit(folder, name, change)
    load_suites(default_suites_dir())  # warm: imports are not the loader's cost
    started = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_suites(folder)
    assert time.perf_counter() - started < 0.5
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {problem}")


def test_an_analyser_set_differently_in_two_suites(tmp_path: Path) -> None:
    folder = shipped_copy(tmp_path)
    edit(folder, "drift", lambda doc: dataqual(doc)["analysers"].__setitem__("label_issues", {}))
    with pytest.raises(ConfigError) as info:
        load_suites(folder)
    assert str(info.value) == (
        f"{folder / 'label_issues.json'}: {LABEL}: settings differ from those in drift.json; "
        "set them in one suite"
    )


def test_overrides_reach_the_settings_and_notes_are_kept(tmp_path: Path) -> None:
    folder = shipped_copy(tmp_path)
    edit(folder, "label_issues", set_label_setting("neighbours", 7))
    suite = {s.name: s for s in load_suites(folder)}["label_issues"]
    settings = suite.meta.analysers["label_issues"]
    assert settings.neighbours == 7 and settings.folds == 5  # type: ignore[attr-defined]
    assert "out-of-fold accuracy" in settings.notes
    assert settings.model_fields_set == {"neighbours", "notes"}


def test_shipped_suites_hold_overrides_only() -> None:
    """Every analyser setting in the shipped suites differs from its default."""
    for suite in load_suites():
        for name, settings in suite.meta.analysers.items():
            defaults = type(settings)()
            for key in settings.model_fields_set - {"notes"}:
                assert getattr(settings, key) != getattr(defaults, key), (suite.name, name, key)


def test_preflight_refuses_a_bad_suite_before_writing(sample_dir: Path, tmp_path: Path) -> None:
    from dataqual.run import preflight

    folder = shipped_copy(tmp_path)
    path = edit(folder, "label_issues", set_label_setting("neighbours", "ten"))
    out = tmp_path / "out"
    config = RunConfig(source=sample_dir, out=out, suites_dir=folder, train=False)
    with pytest.raises(ConfigError, match=f"{path}: {LABEL}.neighbours: 'ten' is not an integer"):
        preflight(config)
    assert not out.exists()
