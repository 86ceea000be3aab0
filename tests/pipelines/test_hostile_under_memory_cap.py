"""Every hostile input of the corpus, through the CLI under a 3 GB address-space cap
(``prlimit --as=3000000000``): each finishes within 60 s and exits 0, 1 or 2, never 3."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pipelines.hostile_runner import CASES

REPO = Path(__file__).resolve().parents[2]
CAP_BYTES = 3_000_000_000


def _cap() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP_BYTES, CAP_BYTES))


@pytest.mark.slow
def test_every_hostile_input_under_a_memory_cap(tmp_path: Path) -> None:
    env = os.environ | {
        "DATAQUAL_PREFECT_HOME": str(tmp_path / "prefect"),
        "PYTHONPATH": str(REPO),
        # The cap counts address space, and glibc reserves a 64 MiB malloc arena for each
        # thread that allocates (reserved, not used): two arenas keep the cap about memory.
        "MALLOC_ARENA_MAX": "2",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tests.pipelines.hostile_runner", str(tmp_path / "work")],
        cwd=REPO,
        env=env,
        preexec_fn=_cap,
        capture_output=True,
        text=True,
        timeout=60 * len(CASES),
    )
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [r["id"] for r in results] == [c.id for c in CASES]
    bad = [r for r in results if r["code"] not in (0, 1, 2) or r["seconds"] >= 60]
    assert not bad, bad
    assert not [r for r in results if r["traceback"]]
    errors = {c.id for c in CASES if c.error is not None}
    assert all(r["code"] == 2 for r in results if r["id"] in errors)
