"""Recipe "add a check", followed from outside the package: a plugin registers the ``toy_dark``
analyser, a suite turns it on and checks its column, and ``dataqual run`` puts the findings
in findings.parquet and the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from pipelines.cli import main

from tests.recipes.toy_check import TOY_SUITE


def toy_suites(tmp_path: Path) -> Path:
    suites = tmp_path / "suites"
    shutil.copytree(Path("expectations"), suites)
    (suites / "toy_dark.json").write_text(json.dumps(TOY_SUITE, indent=2))
    return suites


def test_a_plugin_check_runs_end_to_end(sample_dir: Path, tmp_path: Path) -> None:
    suites = toy_suites(tmp_path)
    out = tmp_path / "out"
    argv = ["--plugin", "tests.recipes.toy_check", "run", "--source", str(sample_dir)]
    assert main([*argv, "--out", str(out), "--suites", str(suites), "--no-train"]) == 0

    profile = pd.read_parquet(out / "profile.parquet")
    dark = set(profile.loc[profile["mean"] < 8.0, "id"])  # the suite's max_mean, not the default
    assert dark and len(dark) < len(profile) / 10
    findings = pd.read_parquet(out / "findings.parquet")
    toy = findings[findings["check"] == "toy_dark_image"]
    assert set(toy["id"]) == dark
    assert set(toy["severity"]) == {"warning"} and set(toy["stage"]) == {"raw"}
    page = (out / "report.html").read_text(encoding="utf-8")
    assert 'data-check="toy_dark_image"' in page
    assert "Toy: the image is not very dark" in page
