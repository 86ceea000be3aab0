"""Run every input of the hostile corpus through ``dataqual run --no-train`` in this one
process, and print one JSON line per case: id, exit code, seconds, stderr's last line.

Meant to run in a child process with a capped address space (see
``test_hostile_under_memory_cap.py``): ``python -m tests.pipelines.hostile_runner WORKDIR``.
A case that runs past its time limit is stopped by SIGALRM and reported with code "timeout".
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from pipelines.cli import main

from tests.ingest.test_hostile_more import ALL_CASES as CASES
from tests.pipelines.test_cli_hostile import _flags

LIMIT_S = 60


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout


def run_case(case_id: str, work: Path) -> dict[str, object]:
    case = next(c for c in CASES if c.id == case_id)
    folder = work / case.id
    (folder / "in").mkdir(parents=True)
    source = case.build(folder / "in")
    args = ["run", "--source", str(source), "--out", str(folder / "out"), "--no-train"]
    err = io.StringIO()
    started = time.perf_counter()
    signal.alarm(LIMIT_S)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code: int | str = main([*args, *_flags(case.options)])
    except _Timeout:
        code = "timeout"
    finally:
        signal.alarm(0)
    lines = err.getvalue().strip().splitlines()
    return {
        "id": case.id,
        "code": code,
        "seconds": round(time.perf_counter() - started, 2),
        "stderr": lines[-1] if lines else "",
        "traceback": "Traceback" in err.getvalue(),
    }


def main_(argv: list[str]) -> int:
    work = Path(argv[0])
    signal.signal(signal.SIGALRM, _alarm)
    for case in CASES:
        print(json.dumps(run_case(case.id, work)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv[1:]))
