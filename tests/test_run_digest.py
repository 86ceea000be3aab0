"""Same input, same output: a run's shards, quarantine and findings are byte-identical to
the checked-in digests of the run before issue 9's restructuring, and its label-issue
queue holds the same rows (scores equal to 1e-5: BLAS sums depend on the thread count)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from dataqual.config import RunConfig
from dataqual.run import run_pipeline

DIGESTS = json.loads((Path(__file__).parent / "data" / "run_digests.json").read_text())
QUEUE = "label_issues.parquet"


def queue_digest(path: Path) -> str:
    """sha256 of the label-issue queue without its float score column, as CSV."""
    table = pd.read_parquet(path).drop(columns="score")
    return hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()


def digests(out: Path, expected: dict[str, str]) -> dict[str, str]:
    """sha256 of each file named in ``expected`` and of every other shard of ``out``."""
    files = {k for k in expected if not k.startswith(QUEUE)}
    names = files | {str(p.relative_to(out)) for p in out.glob("shards/*/*.parquet")}
    found = {
        name: hashlib.sha256((out / name).read_bytes()).hexdigest()
        if (out / name).is_file()
        else "missing"
        for name in sorted(names)
    }
    return found | {f"{QUEUE}:rows": queue_digest(out / QUEUE)}


def test_sample_run_is_byte_identical(sample_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = run_pipeline(RunConfig(source=sample_dir, out=out, train=False))
    assert outcome.exit_code == 0
    assert digests(out, DIGESTS["sample"]) == DIGESTS["sample"]


@pytest.mark.slow
def test_mnist_run_is_byte_identical(mnist_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    outcome = run_pipeline(RunConfig(source=mnist_dir, out=out, train=False))
    assert outcome.exit_code == 0
    assert digests(out, DIGESTS["mnist"]) == DIGESTS["mnist"]
