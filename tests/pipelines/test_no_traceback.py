"""An expected error reaches the user as one line and exit 2, never a traceback, also when
it is found mid-stream inside a Prefect task; ``-v`` shows the traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.pipelines.midstream_cases import MIDSTREAM_CASES

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "DATAQUAL_PREFECT_HOME": str(tmp_path / "prefect"),
        "PYTHONPATH": str(REPO),
    }


def test_midstream_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    """CSV and IDX streams stop with exit 2 naming the file and record; an image tree
    quarantines its bad file and finishes. No traceback either way."""
    ids = [c.id for c in MIDSTREAM_CASES]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.pipelines.hostile_runner", str(tmp_path / "work"), *ids],
        cwd=REPO,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r["id"]: r for r in map(json.loads, proc.stdout.splitlines()) if "id" in r}
    assert list(results) == ids
    for case in MIDSTREAM_CASES:
        result = results[case.id]
        stderr = (tmp_path / "work" / case.id / "stderr.txt").read_text()
        out = tmp_path / "work" / case.id / "out"
        assert not result["traceback"], stderr
        if case.error is None:
            assert result["code"] in (0, 1), stderr
            quarantine = pd.read_parquet(out / "quarantine.parquet")
            assert quarantine["id"].str.contains(case.names[0], regex=False).sum() == 1
            continue
        assert result["code"] == 2, stderr
        assert result["lines"] == 1, stderr
        assert all(name in result["stderr"] for name in case.names), result["stderr"]
        assert not out.exists()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=REPO,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_verbose_shows_the_traceback(tmp_path: Path) -> None:
    source = MIDSTREAM_CASES[0].build(tmp_path)
    out = tmp_path / "out"
    quiet = _cli(tmp_path, "run", "--source", str(source), "--out", str(out), "--no-train")
    loud = _cli(tmp_path, "-v", "run", "--source", str(source), "--out", str(out), "--no-train")
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr and quiet.stderr.count("\n") == 1
    assert "Traceback" in loud.stderr
    assert quiet.stderr.strip() in loud.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--dataset", "fashon-mnist", "--out", "OUT"], "fashon-mnist"),
        (["run", "--source", "data/sample", "--reference", "nope.parquet", "--out", "OUT"], "nope"),
    ],
    ids=["misspelt-dataset", "missing-reference"],
)
def test_preflight_errors_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    done = _cli(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and needle in done.stderr
    assert not (tmp_path / "out").exists()


def test_refused_training_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _cli(tmp_path, "run", "--source", "data/sample", "--out", str(out), "--no-train")
    assert first.returncode == 0, first.stderr
    run = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps(run | {"status": "failed_validation"}))
    done = _cli(tmp_path, "train", "--run", str(out), "--epochs", "1")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "refusing to train" in done.stderr
