"""The runs of the benchmark: plant, run the pipeline on clean and dirty data, score, sweep.

Each function takes the parsed command line of ``benchmarks/bench_quality.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataqual.testing import write_idx_dataset
from quality import measure, plant, score
from quality.settings import Effective

__all__ = ["SWEEP_CAPS", "SWEEP_CONFIGS", "measure_all"]

#: Label-quality caps tried by the sweep (1.0 = no cap: cleanlab's flags alone).
SWEEP_CAPS = (0.0001, 0.001, 0.003, 0.01, 0.03, 0.05, 0.1, 1.0)
#: Label-audit settings the sweep tries besides the suites' own (``--sweep full``).
SWEEP_CONFIGS: tuple[dict[str, Any], ...] = (
    {"filter_by": "both"},
    {"filter_by": "both", "neighbours": 10},
)


def _log(text: str) -> None:
    print(text, file=sys.stderr)


def _clean_runs(
    args: argparse.Namespace, source: Path, work: Path, effective: Effective
) -> dict[str, Any]:
    """Clean runs (timed, median of ``--repeats``), the analysers' times and what the checks
    find on the clean data."""
    runs = []
    for r in range(args.repeats):
        out = work / f"run-clean-{r}"
        runs.append((out, *measure.run_once(source, out, args.suites, overwrite=True)))
        _log(f"clean run {r + 1}: {runs[-1][1]['total']:.0f} s")
    out, times, audit = runs[0]
    stages = {k: statistics.median(t[k] for _, t, _ in runs if k in t) for k in times}
    raw = measure.raw_profile(source, effective)
    return {
        "raw": raw,
        "figures": measure.clean_figures(raw, out, audit, effective),
        "timings": {"stages": stages, "analysers": raw.seconds},
    }


def _dirty_run(
    args: argparse.Namespace,
    name: str,
    folder: Path,
    truth: pd.DataFrame,
    kinds: dict[str, list[str]],
    work: Path,
) -> tuple[dict[str, Any], pd.DataFrame, Path]:
    """A run on dirty data scored against the truth: (scores, its findings, its folder)."""
    out = work / f"run-{name}"
    times, audit = measure.run_once(folder, out, args.suites, overwrite=True)
    _log(f"dirty {name} run: {times['total']:.0f} s")
    findings = measure.raw_findings(out)
    scored = {
        "scores": score.score(findings, truth, kinds),
        "variants": score.by_variant(findings, truth, kinds),
        "collateral": score.collateral_matrix(findings, truth),
        "label_audit": audit,
        "seconds": times,
    }
    return scored, findings, out


def _dirty_idx(
    args: argparse.Namespace, folder: Path, truth: pd.DataFrame, work: Path
) -> dict[str, Any]:
    """The IDX run on the dirty data, with the label flips and the review queue scored."""
    scored, findings, out = _dirty_run(args, "idx", folder, truth, plant.IDX_KINDS, work)
    flips = set(truth.loc[truth["kind"] == "label_flip", "id"])
    queue = pd.read_parquet(out / "label_issues.parquet")
    return {
        **scored,
        "queue": score.queue_scores(queue, flips),
        "label_by_split": score.label_by_split(findings, truth),
    }


def _sweeps(
    args: argparse.Namespace,
    dirty: measure.Raw,
    clean: measure.Raw,
    truth: pd.DataFrame,
    effective: Effective,
) -> list[dict[str, Any]]:
    """Label-flip recall/precision and clean rows flagged per ``max_quality`` cap, for the
    suites' audit settings (and, with ``--sweep full``, the alternatives)."""
    swept: list[dict] = []
    for override in {"none": [], "cap": [{}], "full": [{}, *SWEEP_CONFIGS]}[args.sweep]:
        name = ", ".join(f"{k}={v}" for k, v in override.items()) or "suites"
        dirty_scores = measure.label_scores(dirty, effective, **override)
        clean_scores = measure.label_scores(clean, effective, **override)
        swept += score.sweep(dirty_scores, clean_scores, truth, SWEEP_CAPS, name)
        _log(f"sweep {name} done")
    return swept


def measure_all(args: argparse.Namespace, work: Path, effective: Effective) -> dict[str, Any]:
    """Plant, run and score everything; the summary's measured part."""
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    data = plant.load_source(args.source, args.rows)
    dirty, truth = plant.inject(data, rng, args.per_kind, args.flip_fraction)
    rows = sum(len(y) for _, y in dirty.values())
    dirty_dir = write_idx_dataset(work / "dirty-idx", dirty, level=1)
    csv_truth, csv_rows = plant.write_dirty_csv(work / "dirty-csv", data, rng, args.per_kind)
    csv_train_rows = min(plant.CSV_TRAIN_ROWS, len(data["train"][1]))
    del dirty
    _log(f"data ready in {time.perf_counter() - started:.0f} s")
    clean_source = args.source
    if args.rows:  # the clean run reads the same rows as the dirty ones
        clean_source = write_idx_dataset(work / "clean-idx", data, level=1)
    clean = _clean_runs(args, clean_source, work, effective)
    idx = {"rows": rows, **_dirty_idx(args, dirty_dir, truth, work)}
    csv_scored, _, _ = _dirty_run(args, "csv", work / "dirty-csv", csv_truth, plant.CSV_KINDS, work)
    csv = {"rows": csv_rows, "train_rows": csv_train_rows, **csv_scored}
    swept = _sweeps(args, measure.raw_profile(dirty_dir, effective), clean["raw"], truth, effective)
    return {
        "idx": idx,
        "csv": csv,
        "sweep": swept,
        "goals": score.goals(idx["scores"] + csv["scores"]),
        "clean": clean["figures"],
        "timings": clean["timings"],
    }
