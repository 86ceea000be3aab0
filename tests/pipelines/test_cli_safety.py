"""Issue 8 through the command line: exit 2 with one line for unsafe outputs and bad
references, exit 1 naming the failed checks, and nothing written or deleted."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from pipelines.cli import main

from tests.ingest import writers as w


@pytest.fixture
def source(tmp_path: Path, sample_dir: Path) -> Path:
    return Path(shutil.copytree(sample_dir, tmp_path / "data"))


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["run", *args, "--no-train"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_overwrite_of_the_source_itself(source: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = files_under(source)
    code, err = run(["--source", str(source), "--out", str(source), "--overwrite"], capsys)
    assert code == 2
    assert f"{source}: is the input" in err and err.count("\n") == 1
    assert files_under(source) == before


def test_overwrite_of_a_folder_that_is_not_a_run(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "thesis"
    home.mkdir()
    (home / "thesis.tex").write_text("chapter 1")
    code, err = run(["--source", str(source), "--out", str(home), "--overwrite"], capsys)
    assert code == 2 and "thesis.tex" in err and "nothing was deleted" in err
    assert (home / "thesis.tex").read_text() == "chapter 1"


@pytest.mark.parametrize("case", ["parent_is_a_file", "too_long"])
def test_unusable_out_exits_2(
    case: str, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if case == "parent_is_a_file":
        (tmp_path / "notes.txt").write_text("x")
        out = tmp_path / "notes.txt" / "out"
    else:
        out = tmp_path / ("y" * 300)
    code, err = run(["--source", str(source), "--out", str(out)], capsys)
    assert code == 2, err
    assert str(out) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["data"] + (["notes.txt"] if case == "parent_is_a_file" else [])
    )


def test_source_path_too_long_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / ("z" * 300) / "data"
    code, err = run(["--source", str(src), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "z" * 300 in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("content", [b"not parquet at all", b"PAR1garbagePAR1", "csv", "dir"])
def test_reference_that_is_not_a_profile_exits_2(
    content: bytes | str, source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = tmp_path / "ref.parquet"
    if content == "dir":
        ref.mkdir()
    elif content == "csv":
        import pandas as pd

        pd.DataFrame({"a": [1, 2]}).to_parquet(ref)  # Parquet, but not a profile
    else:
        ref.write_bytes(content)  # type: ignore[arg-type]
    out = tmp_path / "out"
    code, err = run(["--source", str(source), "--out", str(out), "--reference", str(ref)], capsys)
    assert code == 2, err
    assert str(ref) in err and "profile.parquet of an earlier run" in err
    assert not out.exists()


@pytest.mark.usefixtures("prefect_harness")
def test_failed_validation_names_the_failed_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = {"train": (np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))}
    src = w.write_idx(tmp_path / "idx", empty)
    code = main(["run", "--source", str(src), "--out", str(tmp_path / "out"), "--no-train"])
    out = capsys.readouterr().out
    assert code == 1
    verdict = next(line for line in out.splitlines() if not line.startswith("  "))
    assert verdict.startswith("failed_validation: 0 rows")  # after the stage lines
    assert "failed checks: " in out and "split_not_empty (train)" in out
    run_json = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run_json["status"] == "failed_validation" and run_json["exit_code"] == 1


def test_out_link_is_refused(
    source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("k")
    os.symlink(target, tmp_path / "link")
    link = str(tmp_path / "link")
    code, err = run(["--source", str(source), "--out", link, "--overwrite"], capsys)
    assert code == 2 and "symbolic link" in err
    assert (target / "keep.txt").read_text() == "k"
