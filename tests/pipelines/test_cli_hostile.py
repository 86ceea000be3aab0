"""Every malformed input of the hostile corpus through the CLI: exit 2, the file named, and
no output folder (nor a staging folder) left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipelines.cli import main

from tests.ingest.test_hostile import Case
from tests.ingest.test_hostile_more import ALL_CASES as CASES

ERROR_CASES = [c for c in CASES if c.error is not None]


def _flags(options: dict) -> list[str]:
    flags = []
    for key, value in options.items():
        if key == "shape":
            flags += ["--shape", f"{value[0]}x{value[1]}"]
        else:
            flags += [f"--{key.replace('_', '-')}", str(value)]
    return flags


def test_the_cli_covers_the_whole_error_corpus() -> None:
    assert len(ERROR_CASES) >= 30


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("case", ERROR_CASES, ids=[c.id for c in ERROR_CASES])
def test_hostile_input_exits_2_and_leaves_nothing(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").mkdir()
    source = case.build(tmp_path / "in")
    runs = tmp_path / "runs"
    runs.mkdir()
    code = main(
        [
            "run",
            "--source",
            str(source),
            "--out",
            str(runs / "out"),
            "--no-train",
            *_flags(case.options),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    for name in case.names:
        assert name in err, f"{name!r} not in {err!r}"
    assert list(runs.iterdir()) == []  # no output, no staging folder
