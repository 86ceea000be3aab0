"""The command line: help texts, exit codes and messages."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pipelines.cli import build_parser, main


@pytest.mark.parametrize("command", [[], ["run"], ["train"], ["fetch"], ["datasets"]])
def test_every_command_explains_itself(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([*command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "usage: dataqual" in text
    if command == ["run"]:
        for flag in (
            "--source",
            "--dataset",
            "--out",
            "--no-train",
            "--epochs",
            "--force",
            "--mirror",
        ):
            assert flag in text


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--out", "x"])
    assert info.value.code == 2
    assert "one of the arguments --source --dataset is required" in capsys.readouterr().err


def test_compare_raw_without_training_is_one_line_and_exit_2(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        ["run", "--source", str(sample_dir), "--out", str(out), "--no-train", "--compare-raw"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and not out.exists()
    assert (
        err == "dataqual: error: --compare-raw trains a second model: it cannot go with --no-train"
    )


def run_checks(out: Path) -> list[dict]:
    """The checks of both stages that fired, from validation.json."""
    v = json.loads((out / "validation.json").read_text())
    return [c for c in [*v["checks"], *v["cleaned"]["checks"]] if not c["success"]]


@pytest.mark.usefixtures("prefect_harness")
def test_run_on_sample_exits_0_without_training(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--source", str(sample_dir), "--out", str(tmp_path / "out"), "--no-train"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    stages = [line.split()[0] for line in lines if line.endswith(" s") and line.startswith("  ")]
    assert stages[0] == "ingest" and stages[-1] == "report"  # one line per stage, as each ends
    assert set(stages) == {"ingest", "profile", "validate-raw", "clean", "store"} | {
        "validate-cleaned",
        "report",
    }
    verdict = lines[len(stages)]
    assert verdict == "passed: 1200 rows, 1196 kept, 1 repaired, 4 quarantined; training skipped"
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["status"] == "passed"
    report = (tmp_path / "out" / "report.html").as_uri()
    assert f"report: {report}" in lines
    assert lines[-1] == f"run.json: {tmp_path / 'out' / 'run.json'} ({run['seconds']:.1f} s)"
    warned = {c["name"] for c in run_checks(tmp_path / "out") if c["severity"] == "warning"}
    assert "label_issue" in warned  # the sample's planted label flip: the user is told
    shown = next(line for line in lines if line.startswith("warnings: "))
    assert all(name in shown for name in warned)


@pytest.mark.usefixtures("prefect_harness")
def test_corrupted_idx_exits_2_naming_the_file_and_leaves_no_output(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    shutil.copytree(sample_dir, src)
    labels = src / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes(5)))
    out = tmp_path / "out"
    code = main(["run", "--source", str(src), "--out", str(out), "--no-train"])
    err = capsys.readouterr().err
    assert code == 2
    assert "t10k-labels-idx1-ubyte.gz" in err or "t10k-images-idx3-ubyte.gz" in err
    assert "200 images but t10k-labels-idx1-ubyte.gz holds 5 labels" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_console_script_reports_bad_input_with_exit_2(tmp_path: Path) -> None:
    """The installed `dataqual` entry point in a fresh process: bad input fails before any flow."""
    exe = Path(sys.executable).with_name("dataqual")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "pipelines"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(12))
    (bad / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + bytes(4))
    env = {
        **os.environ,
        "DATAQUAL_PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run(
        [*cmd, "run", "--source", str(bad), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 2, result.stderr
    assert "train-images-idx3-ubyte" in result.stderr
    assert not (tmp_path / "out").exists()
