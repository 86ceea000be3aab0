"""The HTML report: one self-contained page per run (inline CSS, SVG charts and PNG data URIs).

No scripts and no network: the page opens from disk. Every string from the data is escaped.
Galleries read only the flagged rows' images (see :mod:`dataqual.report.images`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataqual import __version__
from dataqual.files import atomic_path
from dataqual.profile import Profile
from dataqual.report.gallery import (
    DEFAULT_CAP,
    Gallery,
    label_queue,
    plan_galleries,
    render_gallery,
    row_info,
)
from dataqual.report.images import fetch_images, png_data_uri
from dataqual.report.markup import esc
from dataqual.report.model import ModelResults, label_queue_ids, model_section
from dataqual.report.sections import (
    all_checks,
    artefacts_section,
    charts_section,
    checks_section,
    findings_section,
    label_section,
    section,
    summary_section,
)
from dataqual.spec import DatasetSpec

__all__ = ["ReportInputs", "png_data_uri", "render_report", "report_css", "write_report"]


@functools.cache
def report_css() -> str:
    """The page's style sheet (read once, on first use)."""
    return (files("dataqual.report") / "report.css").read_text(encoding="utf-8")


_NAV = (
    ("summary", "Summary"),
    ("findings", "Findings"),
    ("charts", "Data"),
    ("model", "Model"),
    ("label-issues", "Label issues"),
    ("galleries", "Galleries"),
    ("checks", "Checks"),
    ("artefacts", "Artefacts"),
)


@dataclass(frozen=True)
class ReportInputs:
    """What a report shows: the run summary (the keys of ``validation.json``), the findings,
    the raw profile, where the quarantined and stored images are, the artefacts, the dataset
    spec, the label review queue, the cap on images per finding type and the model's results
    (none yet: training ``skipped``)."""

    summary: Mapping[str, Any]
    findings: pd.DataFrame | None
    raw_profile: Profile | None
    quarantine: Path | None
    shards: Path | None
    artefacts: Mapping[str, str | None]
    spec: DatasetSpec
    label_issues: pd.DataFrame | None = None
    cap: int = DEFAULT_CAP
    model: ModelResults | None = None


def write_report(
    path: Path,
    *,
    summary: Mapping[str, Any],
    findings: pd.DataFrame,
    raw_profile: Profile | None,
    quarantine: Path | None,
    shards: Path | None,
    artefacts: Mapping[str, str | None],
    spec: DatasetSpec,
    label_issues: pd.DataFrame | Path | None = None,
    cap: int = DEFAULT_CAP,
    model: ModelResults | None = None,
) -> Path:
    """Write the run's HTML report to ``path`` (atomically) and return it.

    ``summary`` is the run summary as a mapping with the keys of ``validation.json``.
    ``label_issues`` is the review queue (a table or its Parquet file); when omitted, the
    ``label_issues`` artefact beside ``path`` is read if it was written. ``cap`` bounds the
    images shown per finding type and the rows shown of the review queue. ``model`` is what
    the Model section shows (its label-queue ids and class names are filled in here).
    """
    path = Path(path)
    if label_issues is None and artefacts.get("label_issues"):
        label_issues = path.parent / str(artefacts["label_issues"])
    if isinstance(label_issues, str | Path):
        label_issues = pd.read_parquet(label_issues) if Path(label_issues).is_file() else None
    inputs = ReportInputs(summary, findings, raw_profile, quarantine, shards, artefacts, spec)
    page = render_report(replace(inputs, label_issues=label_issues, cap=cap, model=model))
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def render_report(inputs: ReportInputs) -> str:
    """The report page as a string (see :func:`write_report`)."""
    summary, spec = inputs.summary, inputs.spec
    findings = inputs.findings if inputs.findings is not None else pd.DataFrame()
    raw_profile, label_issues = inputs.raw_profile, inputs.label_issues
    profile = raw_profile.table if raw_profile is not None else None
    galleries = plan_galleries(findings, profile, inputs.cap)
    queue = label_queue(label_issues, inputs.cap)
    wanted: set[str] = set().union(*(g.ids() for g in galleries))
    if queue is not None:
        wanted |= set(queue["id"].astype(str))
    model = replace(
        inputs.model or ModelResults(None),
        queue_ids=label_queue_ids(findings, label_issues),
        class_names=[spec.class_label(c) for c in range(max(spec.classes, default=-1) + 1)],
    )
    wanted |= model.ids()
    shape = raw_profile.shape if raw_profile is not None else tuple(spec.shape)
    images = fetch_images(wanted, quarantine=inputs.quarantine, shards=inputs.shards, shape=shape)
    info = row_info(wanted, profile, label_issues)
    thumbs = _repair_thumbs(galleries, raw_profile, findings)
    descriptions = {str(c.get("name")): str(c.get("description", "")) for c in all_checks(summary)}
    tiles = "".join(
        render_gallery(g, images, info, thumbs, descriptions.get(g.check, "")) for g in galleries
    )
    gallery_body = (
        f'<div class="galleries">{tiles}</div>'
        if tiles
        else '<p class="muted">No row was flagged.</p>'
    )
    sections = [
        summary_section(summary, findings, galleries, label_issues),
        findings_section(findings, galleries, descriptions),
        charts_section(raw_profile, summary, spec),
        model_section(model, images),
        label_section(label_issues, queue, images),
        section("galleries", "Flagged images by finding type", gallery_body),
        checks_section(summary),
        artefacts_section(inputs.artefacts),
    ]
    return _page(summary, str(summary.get("dataset") or spec.name), "".join(sections))


def _page(summary: Mapping[str, Any], name: str, body: str) -> str:
    """The whole HTML document around the sections."""
    ok = bool(summary.get("success"))
    nav = "".join(f'<a href="#{anchor}">{text}</a>' for anchor, text in _NAV)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>dataqual report: {esc(name)} ({"passed" if ok else "failed validation"})</title>
<link rel="icon" href="data:,"><style>{report_css()}</style></head><body>
<header class="top"><h1>dataqual report · {esc(name)}</h1>
<div class="src">{esc(summary.get("source", ""))} · format {esc(summary.get("format", ""))}</div>
</header>
<nav>{nav}</nav>
<main>{body}</main>
<footer>Generated {esc(generated)} by dataqual {esc(__version__)}.
Self-contained: images are inline and the page loads nothing from the network.</footer>
</body></html>
"""


def _repair_thumbs(
    galleries: list[Gallery], raw_profile: Profile | None, findings: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Raw thumbnails of the shown repaired rows (the shards hold only the repaired image)."""
    if raw_profile is None or "action_taken" not in findings or "id" not in findings:
        return {}
    thumbs = raw_profile.thumbs
    side = round(thumbs.shape[1] ** 0.5) if thumbs.ndim == 2 else 0
    if len(thumbs) != len(raw_profile.table) or not side or side * side != thumbs.shape[1]:
        return {}
    taken = findings["action_taken"].astype("string")
    repaired = set(findings.loc[taken == "repair", "id"].astype(str))
    ids = {r.id for g in galleries for r in g.rows if not r.partner} & repaired
    if not ids:
        return {}
    rid = raw_profile.table["id"].astype(str).to_numpy()
    pos = np.flatnonzero(np.isin(rid, list(ids)))
    return {rid[i]: thumbs[i].reshape(side, side) for i in pos}
