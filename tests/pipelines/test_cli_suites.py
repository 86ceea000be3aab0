"""``dataqual suites check|show`` and a bad suite given to ``dataqual run``: one line, exit 2."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
from pipelines.cli_suites import add_suites_parser, cmd_suites

from dataqual.validate.suites import default_suites_dir


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="dataqual")
    add_suites_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def bad_folder(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "suites"
    shutil.copytree(default_suites_dir(), folder)
    path = folder / "label_issues.json"
    doc = json.loads(path.read_text())
    doc["meta"]["dataqual"]["analysers"]["label_issues"]["neighbors"] = 10
    path.write_text(json.dumps(doc))
    return folder, path


def test_check_counts_suites_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_suites(parse(["suites", "check"])) == 0
    assert capsys.readouterr().out == "ok: 6 suites, 30 checks\n"


def test_check_a_bad_folder_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, path = bad_folder(tmp_path)
    assert cmd_suites(parse(["suites", "check", str(folder)])) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith(
        f"dataqual: error: {path}: meta.dataqual.analysers.label_issues.neighbors: unknown key "
        "(allowed: stages, notes, model, "
    )
    assert ", neighbours, " in captured.err  # the key meant is among those listed


def test_show_prints_values_defaults_and_descriptions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "suites"
    shutil.copytree(default_suites_dir(), folder)
    path = folder / "near_duplicates.json"
    doc = json.loads(path.read_text())
    doc["meta"]["dataqual"]["analysers"]["near_duplicates"]["max_distance"] = 0.05
    path.write_text(json.dumps(doc))
    assert cmd_suites(parse(["suites", "show", str(folder)])) == 0
    out = capsys.readouterr().out.splitlines()
    assert "analyser near_duplicates (" + str(path) + ")" in out
    overridden = next(line for line in out if line.strip().startswith("max_distance "))
    assert "= 0.05  (default: 0.06)  # Largest distance" in overridden
    neighbours = next(line for line in out if line.strip().startswith("neighbours "))
    assert "= 10  (default)  # class_knn: training rows per class." in neighbours
    assert any(line.split() == ["inverted_image", "error", "repair", "(invert)"] for line in out)
    assert any(line.split() == ["row_count", "error", "none", "[raw", "only]"] for line in out)


def test_suites_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli import main

    assert main(["suites", "check"]) == 0
    assert capsys.readouterr().out.startswith("ok: 6 suites")
    folder, path = bad_folder(tmp_path)
    assert main(["suites", "check", str(folder)]) == 2
    assert str(path) in capsys.readouterr().err


def test_run_with_a_bad_suite_exits_2_before_writing(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli import main

    folder, path = bad_folder(tmp_path)
    out = tmp_path / "out"
    argv = ["run", "--source", str(sample_dir), "--out", str(out), "--suites", str(folder)]
    assert main([*argv, "--no-train"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: meta.dataqual.analysers.label_issues.neighbors: unknown key" in err
    assert not out.exists()
