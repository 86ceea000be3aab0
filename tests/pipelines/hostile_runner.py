"""Run inputs of the hostile corpus (and the mid-stream cases) through ``dataqual run
--no-train`` in this one process, and print one JSON line per case: id, exit code,
seconds, stderr's last line, and whether stderr held a traceback.

Runs in a child process (see ``test_hostile_under_memory_cap.py`` and
``test_no_traceback.py``): ``python -m tests.pipelines.hostile_runner WORKDIR [CASE_ID...]``.
stderr is captured at the file-descriptor level, so what Prefect's log handlers write
(they hold the real stderr) is seen too. A case that runs past its time limit is stopped
by SIGALRM and reported with code "timeout".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from pipelines.cli import main

from tests.ingest.test_hostile_more import ALL_CASES
from tests.pipelines.midstream_cases import MIDSTREAM_CASES
from tests.pipelines.test_cli_hostile import _flags

CASES = [*ALL_CASES, *MIDSTREAM_CASES]

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
    started = time.perf_counter()
    with _stderr_to(folder / "stderr.txt"):
        signal.alarm(LIMIT_S)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                code: int | str = main([*args, *_flags(case.options)])
        except _Timeout:
            code = "timeout"
        finally:
            signal.alarm(0)
    err = (folder / "stderr.txt").read_text(errors="replace")
    lines = err.strip().splitlines()
    return {
        "id": case.id,
        "code": code,
        "seconds": round(time.perf_counter() - started, 2),
        "stderr": lines[-1] if lines else "",
        "lines": len(lines),
        "traceback": "Traceback" in err,
    }


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Point file descriptor 2 at ``path`` for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def main_(argv: list[str]) -> int:
    work = Path(argv[0])
    wanted = argv[1:] or [c.id for c in CASES]
    signal.signal(signal.SIGALRM, _alarm)
    for case_id in wanted:
        print(json.dumps(run_case(case_id, work)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main_(sys.argv[1:]))
