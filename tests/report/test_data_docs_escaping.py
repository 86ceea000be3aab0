"""Record ids that are markup never reach the GX Data Docs as markup (no browser needed).

The browser test (``test_report_browser.py``) opens the same kind of run in Chromium; this
one reads the files, so it runs everywhere.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd
import pytest

from dataqual.config import RunConfig
from dataqual.run import run_pipeline
from tests.report.test_report_browser import HOSTILE_IDS, hostile_names_dataset


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    out = folder / "run"
    run_pipeline(RunConfig(source=hostile_names_dataset(folder / "src"), out=out, train=False))
    return out


def test_data_docs_hold_no_raw_markup_from_ids(hostile_run: Path) -> None:
    run = json.loads((hostile_run / "run.json").read_text())
    docs = (hostile_run / run["data_docs"]).parent
    pages = {p: p.read_text() for p in docs.rglob("*.html")}
    assert len(pages) > 2
    for page, text in pages.items():
        for raw in ("<img src=x onerror", "<svg onload", '"><svg', "'><img"):
            assert raw not in text, (page, raw)
    # failing rows are shown by their row number in profile.parquet; ids shown as values
    # (the kept partner of each exact duplicate) are escaped once: the browser shows their text
    rows = [t for p, t in pages.items() if "validations" in p.parts and "raw_all_rows" in p.parts]
    assert len(rows) == 1
    assert [rid for rid in HOSTILE_IDS if html.escape(rid) in rows[0]]


def test_findings_and_validation_keep_the_true_ids(hostile_run: Path) -> None:
    findings = pd.read_parquet(hostile_run / "findings.parquet")
    raw = findings[findings["stage"] == "raw"]
    assert set(raw.loc[raw["check"] == "blank_image", "id"]) == set(HOSTILE_IDS)
    # the blank images are copies of one another: one is kept, the others name it, truly
    duplicates = raw[raw["check"] == "exact_duplicate"]
    (kept,) = set(HOSTILE_IDS) - set(duplicates["id"])
    assert set(duplicates["id"]) == set(HOSTILE_IDS) - {kept}
    assert set(duplicates["detail"]) == {f"duplicate_of={kept}"}

    validation = json.loads((hostile_run / "validation.json").read_text())
    checks = {c["name"]: c for c in validation["checks"]}
    assert set(checks["blank_image"]["examples"]) == set(HOSTILE_IDS)
    assert set(checks["exact_duplicate"]["examples"]) == set(HOSTILE_IDS) - {kept}
    assert checks["ids_unique"]["success"]  # escaping told no two distinct ids apart wrongly
