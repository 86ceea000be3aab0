"""The HTML report: one self-contained page per run (inline CSS, SVG charts and PNG data URIs).

No scripts and no network: the page opens from disk. Every string from the data is escaped.
Galleries read only the flagged rows' images (see :mod:`dataqual.report.images`).
"""

from __future__ import annotations

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

__all__ = ["png_data_uri", "render_report", "write_report"]

CSS = (files("dataqual.report") / "report.css").read_text(encoding="utf-8")

_NAV = (
    ("summary", "Summary"),
    ("findings", "Findings"),
    ("charts", "Data"),
    ("label-issues", "Label issues"),
    ("galleries", "Galleries"),
    ("checks", "Checks"),
    ("artefacts", "Artefacts"),
)


def write_report(
    path: Path,
    *,
    summary: dict[str, Any],
    findings: pd.DataFrame,
    raw_profile: Profile | None,
    quarantine: Path | None,
    shards: Path | None,
    artefacts: dict[str, str | None],
    spec: DatasetSpec,
    label_issues: pd.DataFrame | Path | None = None,
    cap: int = DEFAULT_CAP,
) -> Path:
    """Write the run's HTML report to ``path`` (atomically) and return it.

    ``label_issues`` is the review queue (a table or its Parquet file); when omitted, the
    ``label_issues`` artefact beside ``path`` is read if it was written. ``cap`` bounds the
    images shown per finding type and the rows shown of the review queue.
    """
    path = Path(path)
    if label_issues is None and artefacts.get("label_issues"):
        label_issues = path.parent / str(artefacts["label_issues"])
    if isinstance(label_issues, str | Path):
        label_issues = pd.read_parquet(label_issues) if Path(label_issues).is_file() else None
    page = render_report(
        summary=summary,
        findings=findings,
        raw_profile=raw_profile,
        quarantine=quarantine,
        shards=shards,
        artefacts=artefacts,
        spec=spec,
        label_issues=label_issues,
        cap=cap,
    )
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def render_report(
    *,
    summary: dict[str, Any],
    findings: pd.DataFrame | None,
    raw_profile: Profile | None,
    quarantine: Path | None,
    shards: Path | None,
    artefacts: dict[str, str | None],
    spec: DatasetSpec,
    label_issues: pd.DataFrame | None = None,
    cap: int = DEFAULT_CAP,
) -> str:
    """The report page as a string (see :func:`write_report`)."""
    findings = findings if findings is not None else pd.DataFrame()
    profile = raw_profile.table if raw_profile is not None else None
    galleries = plan_galleries(findings, profile, cap)
    queue = label_queue(label_issues, cap)
    wanted: set[str] = set().union(*(g.ids() for g in galleries))
    if queue is not None:
        wanted |= set(queue["id"].astype(str))
    shape = raw_profile.shape if raw_profile is not None else tuple(spec.shape)
    images = fetch_images(wanted, quarantine=quarantine, shards=shards, shape=shape)
    info = row_info(wanted, profile, label_issues)
    thumbs = _repair_thumbs(galleries, raw_profile, findings)
    descriptions = {str(c.get("name")): str(c.get("description", "")) for c in all_checks(summary)}
    tiles = "".join(
        render_gallery(g, images, info, thumbs, descriptions.get(g.check, "")) for g in galleries
    )
    sections = [
        summary_section(summary, findings, galleries, label_issues),
        findings_section(findings, galleries, descriptions),
        charts_section(raw_profile, summary, spec),
        label_section(label_issues, queue, images),
        section(
            "galleries",
            "Flagged images by finding type",
            f'<div class="galleries">{tiles}</div>'
            if tiles
            else '<p class="muted">No row was flagged.</p>',
        ),
        checks_section(summary),
        artefacts_section(artefacts),
    ]
    ok = bool(summary.get("success"))
    name = summary.get("dataset") or spec.name
    nav = "".join(f'<a href="#{anchor}">{text}</a>' for anchor, text in _NAV)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>dataqual report: {esc(name)} ({"passed" if ok else "failed validation"})</title>
<link rel="icon" href="data:,"><style>{CSS}</style></head><body>
<header class="top"><h1>dataqual report · {esc(name)}</h1>
<div class="src">{esc(summary.get("source", ""))} · format {esc(summary.get("format", ""))}</div>
</header>
<nav>{nav}</nav>
<main>{"".join(sections)}</main>
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
