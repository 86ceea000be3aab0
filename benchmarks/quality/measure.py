"""Run the pipeline and the analysers on a dataset, and measure what they find and take.

The pipeline is run whole (``run_pipeline``, no training); its stage timings come from
``run.json`` and the label audit's figures from ``validation.json``. The raw profile is
computed again here (reader + ``profile_batches``, as the pipeline's profile stage does),
so the analysers can be timed and the label audit re-scored without the pipeline's
internals.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quality.settings import Effective

__all__ = [
    "PROBE_RADII",
    "Raw",
    "clean_figures",
    "label_scores",
    "raw_findings",
    "raw_profile",
    "run_once",
]

#: Thumbnail distances at which clean pairs are counted, besides the checks' own bounds.
PROBE_RADII = (0.08, 0.10)
#: Label audit figures copied from validation.json.
_AUDIT_KEYS = ("oof_accuracy", "bandwidth", "cleanlab_issues", "issues", "rows_scored", "seconds")


def run_once(
    source: Path, out: Path, suites: Path | None, **options: Any
) -> tuple[dict[str, float], dict[str, Any]]:
    """``run_pipeline`` without training: (seconds per stage from run.json plus ``total``
    and ``label_audit``, the label audit's observed figures)."""
    from dataqual.config import RunConfig
    from dataqual.run import run_pipeline

    config = RunConfig(source=source, out=out, train=False, suites_dir=suites, **options)
    started = time.perf_counter()
    run_pipeline(config)
    total = time.perf_counter() - started
    run_json = json.loads((out / "run.json").read_text())
    times = {k: float(v) for k, v in (run_json.get("timings") or {}).items()}
    times["total"] = total
    validation = json.loads((out / "validation.json").read_text())
    audit = next((c for c in validation["checks"] if c["name"] == "label_audit"), None)
    observed = dict(audit["observed"]) if audit else {}
    if "seconds" in observed:
        times["label_audit"] = float(observed["seconds"])
    return times, observed


def raw_findings(out: Path) -> pd.DataFrame:
    """The row-level findings of the raw stage of a run."""
    f = pd.read_parquet(out / "findings.parquet")
    return f[(f["stage"] == "raw") & (f["id"] != "")]


@dataclass(frozen=True)
class Raw:
    """A dataset's raw profile with the columns of the analysers that run before the label
    audit (it reads them: a later copy is not audited), its spec, and each analyser's
    seconds."""

    profile: Any
    spec: Any
    seconds: dict[str, float]


def _context(raw_spec: Any, settings: Any) -> Any:
    from dataqual.checks.analysis import AnalysisContext

    return AnalysisContext(stage="raw", spec=raw_spec, settings=settings)


def raw_profile(source: Path, effective: Effective) -> Raw:
    """Read and profile ``source`` as the pipeline's ingest and profile stages do, then run
    the analysers the suites turn on (but the label audit, timed by the pipeline) on it,
    each with its settings, timing each."""
    from dataqual.checks.registry import get_analyser
    from dataqual.ingest import open_source
    from dataqual.profile import profile_batches
    from dataqual.spec import infer_spec

    src = open_source(source)
    spec = infer_spec(src, source)
    batches = (b for s in src.splits() for b in src.iter_batches(s.name))
    profile = profile_batches(batches, src.shape)
    table, seconds = profile.table.copy(deep=False), {}
    for name, settings in effective.analysers.items():
        if name == "label_issues":
            continue
        started = time.perf_counter()
        analysis = get_analyser(name)().run(replace(profile, table=table), _context(spec, settings))
        seconds[name] = time.perf_counter() - started
        for column, values in analysis.columns.items():
            table[column] = values
    return Raw(profile=replace(profile, table=table), spec=spec, seconds=seconds)


def label_scores(raw: Raw, effective: Effective, **override: Any) -> pd.DataFrame:
    """id, cleanlab's flag (no ``max_quality`` cap) and label quality of every row, by the
    suites' audit settings with ``override`` (the same seed, folds and scores as the
    pipeline's audit)."""
    from dataqual.checks.registry import get_analyser

    base = effective.analysers["label_issues"]
    settings = type(base).model_validate({**base.model_dump(), "max_quality": 1.0, **override})
    analysis = get_analyser("label_issues")().run(raw.profile, _context(raw.spec, settings))
    return pd.DataFrame(
        {
            "id": raw.profile.table["id"].astype(str).to_numpy(),
            "found": analysis.columns["label_issue"],
            "quality": analysis.columns["label_quality"],
        }
    )


def _near_figures(raw: Raw, radii: list[float]) -> dict[str, Any]:
    """Closest distinct thumbnail pairs of a dataset, and pairs under each radius."""
    from dataqual.checks.near_duplicates import near_pairs, unit_thumbnails

    table = raw.profile.table
    unit, inked = unit_thumbnails(raw.profile.thumbs)
    i, j, dist = near_pairs(unit[inked], max(radii))
    split = table["split"].to_numpy()[inked]
    ids = table["id"].astype(str).to_numpy()[inked]
    same = split[i] == split[j]
    closest = np.argsort(dist, kind="stable")[:5]
    return {
        "closest_pairs": [
            {"a": ids[i[k]], "b": ids[j[k]], "distance": round(float(dist[k]), 4)} for k in closest
        ],
        "near_distance_min_within": _min(dist[same]),
        "near_distance_min_train_test": _min(dist[~same]),
        "near_pairs_under": {f"{r:g}": int((dist <= r).sum()) for r in radii},
    }


def clean_figures(
    raw: Raw, out: Path, audit: dict[str, Any], effective: Effective
) -> dict[str, Any]:
    """What every check finds on a clean dataset, plus the margins the thresholds rest on."""
    table = raw.profile.table
    findings = raw_findings(out)
    queue = pd.read_parquet(out / "label_issues.parquet")
    near = effective.analyser("near_duplicates")
    bounds = {near.get("max_distance"), near.get("leak_max_distance")} - {None}
    top = queue.nsmallest(10, "rank")[["id", "given_label", "suggested_label", "score"]]
    return {
        "rows": len(table),
        "findings": {
            f"{c} ({s})": int(n)
            for (c, s), n in findings.groupby(["check", "split"]).size().items()
        },
        "label_issue_top_ids": top.to_dict("records"),
        "near_duplicate_top_ids": findings.loc[findings["check"] == "near_duplicate", "id"]
        .head(10)
        .tolist(),
        "std_min": round(float(table["std"].min()), 2),
        "border_mean_max": round(float(table["border_mean"].max()), 2),
        "pixel_min": int(table["pixel_min"].min()),
        "pixel_max": int(table["pixel_max"].max()),
        "exact_duplicate_groups": int(table.duplicated(["split", "content_hash"]).sum()),
        **_near_figures(raw, sorted({*bounds, *PROBE_RADII})),
        "label_audit": {k: audit.get(k) for k in _AUDIT_KEYS},
    }


def _min(values: np.ndarray) -> float | None:
    return round(float(values.min()), 4) if len(values) else None
