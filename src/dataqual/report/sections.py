"""The report's sections as HTML fragments: summary, findings, charts, label issues, checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import pandas as pd

from dataqual.profile import Profile
from dataqual.report.charts import bar_chart, histogram
from dataqual.report.gallery import Gallery, render_label_queue
from dataqual.report.images import StoredImage
from dataqual.report.markup import esc, fmt_count, slug
from dataqual.spec import DatasetSpec

__all__ = [
    "all_checks",
    "artefacts_section",
    "charts_section",
    "checks_section",
    "findings_section",
    "label_section",
    "section",
    "summary_section",
]

_SEVERITY_ORDER = {"error": 0, "warning": 1}


def section(anchor: str, title: str, body: str) -> str:
    """A card with an anchor and a heading; ``body`` is already HTML."""
    return f'<section class="card" id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def _table(headers: Iterable[str], rows: Iterable[str], table_id: str = "") -> str:
    heads = "".join(
        f'<th class="num">{esc(h[1:])}</th>' if h.startswith("#") else f"<th>{esc(h)}</th>"
        for h in headers
    )
    attr = f' id="{table_id}"' if table_id else ""
    return f"<table{attr}><thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _row(*cells: str) -> str:
    """A table row; each cell is HTML, optionally prefixed ``#`` for a right-aligned number."""
    out = "".join(
        f'<td class="num">{c[1:]}</td>' if c.startswith("#") else f"<td>{c}</td>" for c in cells
    )
    return f"<tr>{out}</tr>"


def _badge(kind: str) -> str:
    return f'<span class="badge {slug(kind)}">{esc(kind)}</span>'


def all_checks(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The summaries of every check of both stages, each with its ``stage``."""
    raw = [{**c, "stage": "raw"} for c in summary.get("checks", [])]
    cleaned = (summary.get("cleaned") or {}).get("checks", [])
    return raw + [{**c, "stage": "cleaned"} for c in cleaned]


def _kpi(value: str, label: str, cls: str = "") -> str:
    return (
        f'<div class="kpi {cls}"><div class="v">{esc(value)}</div>'
        f'<div class="k">{esc(label)}</div></div>'
    )


def _share(part: Any, whole: Any) -> str:
    try:
        return f" ({int(part) / int(whole):.2%})" if int(whole) else ""
    except (TypeError, ValueError):
        return ""


def summary_section(
    summary: Mapping[str, Any],
    findings: pd.DataFrame,
    galleries: list[Gallery],
    label_issues: pd.DataFrame | None,
) -> str:
    """Pass/fail, counts kept/repaired/quarantined, and why a failed run failed."""
    ok = bool(summary.get("success"))
    counts = summary.get("counts", {})
    rows = counts.get("rows", 0)
    ids = findings["id"].astype("string") if "id" in findings else pd.Series([], dtype="string")
    flagged = int(ids[ids.fillna("") != ""].nunique())
    kept, quarantined = counts.get("kept", 0), counts.get("quarantined", 0)
    kpis = [
        _kpi(fmt_count(rows), "rows read"),
        _kpi(fmt_count(kept), f"kept{_share(kept, rows)}", "ok"),
        _kpi(fmt_count(counts.get("repaired", 0)), "repaired (and kept)", "r"),
        _kpi(fmt_count(quarantined), f"quarantined{_share(quarantined, rows)}", "q"),
        _kpi(fmt_count(flagged), "rows with findings"),
        _kpi(str(len({g.check for g in galleries})), "finding types"),
    ]
    if label_issues is not None:
        kpis.append(_kpi(fmt_count(len(label_issues)), "suspected label errors"))
    reasons = [
        f"<li><b>{esc(b.get('name'))}</b> ({esc(b.get('split') or 'all splits')}): "
        f"{esc(b.get('description', ''))} — {fmt_count(b.get('unexpected_count', 0))} rows, "
        "not fixed by cleaning</li>"
        for b in summary.get("blocking", [])
    ] + [
        f"<li><b>{esc(c.get('name'))}</b> ({esc(c.get('split') or 'all splits')}) still fails "
        f"after cleaning: {esc(c.get('description', ''))}</li>"
        for c in (summary.get("cleaned") or {}).get("checks", [])
        if not c.get("success") and not c.get("skipped") and c.get("severity") == "error"
    ]
    why = (
        f'<div class="blocking"><b>Why it failed</b><ul>{"".join(reasons)}</ul></div>'
        if reasons and not ok
        else ""
    )
    status = "PASSED" if ok else "FAILED VALIDATION"
    body = (
        f'<span class="status {"pass" if ok else "fail"}" id="status">{status}</span>'
        f'<div class="kpis">{"".join(kpis)}</div>{why}'
    )
    return section("summary", "Summary", body)


def findings_section(
    findings: pd.DataFrame, galleries: list[Gallery], descriptions: Mapping[str, str]
) -> str:
    """Counts by finding type (check and stage) and what cleaning did with the rows."""
    if findings is None or findings.empty or "check" not in findings:
        return section("findings", "Findings by type", '<p class="muted">No findings.</p>')
    f = findings.astype({c: "string" for c in findings.columns}).fillna("")
    for col in ("id", "split", "stage", "severity", "action", "detail"):
        if col not in f:
            f[col] = ""
    if "action_taken" not in f:
        f["action_taken"] = f["action"]
    anchors = {(g.stage, g.check): g.anchor for g in galleries}
    keyed = []
    for (stage, check), g in f.groupby(["stage", "check"], sort=False):
        rowwise = g[g["id"] != ""].drop_duplicates("id")
        taken = rowwise["action_taken"].value_counts()
        anchor = anchors.get((stage, check))
        name = f'<a href="#{anchor}">{esc(check)}</a>' if anchor else esc(check)
        severity = str(g["severity"].iloc[0])
        note = descriptions.get(str(check), "") if len(rowwise) else g["detail"].iloc[0]
        html = _row(
            name,
            esc(stage),
            _badge(severity),
            esc(g["action"].iloc[0]),
            esc(", ".join(sorted(set(g["split"]) - {""}))),
            "#" + (fmt_count(len(rowwise)) if len(rowwise) else "table"),
            "#" + fmt_count(int(taken.get("quarantine", 0)) + int(taken.get("drop", 0))),
            "#" + fmt_count(int(taken.get("repair", 0))),
            "#" + fmt_count(int(taken.get("flag", 0))),
            f'<span class="det">{esc(note)}</span>',
        )
        order = (stage != "raw", _SEVERITY_ORDER.get(severity, 2), -len(rowwise), check)
        keyed.append((order, html))
    keyed.sort(key=lambda kv: kv[0])
    headers = (
        "check",
        "stage",
        "severity",
        "action",
        "splits",
        "#rows",
        "#removed",
        "#repaired",
        "#flagged",
        "about",
    )
    note = (
        '<p class="muted">Removed rows are in quarantine.parquet; a row removed by one check '
        "counts as removed under its other checks too.</p>"
    )
    return section(
        "findings",
        "Findings by type",
        _table(headers, (h for _, h in keyed), "findings-table") + note,
    )


class _Hist(NamedTuple):
    """One histogram of a raw profile column (values from 0 to ``hi``)."""

    column: str
    hi: float
    title: str
    x_label: str
    x_fmt: Callable[[float], str]
    x_ticks: tuple[float, ...] | None


_HISTOGRAMS = (
    _Hist(
        "mean",
        255,
        "Mean intensity per image (share of rows)",
        "mean pixel value (0–255)",
        lambda v: f"{v:.0f}",
        (0, 64, 128, 192, 255),
    ),
    _Hist(
        "ink_fraction",
        1,
        "Ink fraction per image (share of rows)",
        "fraction of pixels above 127",
        lambda v: f"{v:.2f}",
        None,
    ),
)


def _label_key(value: Any) -> str:
    return "missing" if pd.isna(value) else str(int(value))


def charts_section(
    raw_profile: Profile | None, summary: Mapping[str, Any], spec: DatasetSpec
) -> str:
    """Class distribution per split (raw and kept) and intensity histograms of the raw data."""
    title = "Data as delivered"
    if raw_profile is None or raw_profile.table.empty:
        return section("charts", title, '<p class="muted">No profile.</p>')
    table = raw_profile.table
    split_col = table["split"].astype(str)
    splits = list(dict.fromkeys(split_col.tolist()))
    declared = [str(c) for c in spec.classes]
    charts = []
    for split in splits:
        counts = table.loc[split_col == split, "label"].value_counts(dropna=False)
        raw = {_label_key(k): int(v) for k, v in counts.items()}
        kept = (summary.get("splits", {}).get(split) or {}).get("label_counts", {})
        extra = sorted(
            (set(raw) | set(kept)) - set(declared) - {"missing"}, key=lambda s: (len(s), s)
        )
        cats = declared + extra + (["missing"] if "missing" in raw else [])
        series = {"raw": [raw.get(c, 0) for c in cats], "kept": [kept.get(c, 0) for c in cats]}
        charts.append(
            bar_chart(cats, series, title=f"Class distribution · {split}", x_label="label")
        )
    by_split = {s: (split_col == s).to_numpy() for s in splits}
    for column, hi, title, x_label, x_fmt, x_ticks in _HISTOGRAMS:
        charts.append(
            histogram(
                {s: table[column].to_numpy()[m] for s, m in by_split.items()},
                lo=0,
                hi=hi,
                title=title,
                x_label=x_label,
                x_fmt=x_fmt,
                x_ticks=x_ticks,
            )
        )
    body = (
        '<p class="muted">Every row as read, before cleaning; “kept” counts the rows written '
        "to the shards. Hover a bar for its value.</p>"
        f'<div class="charts">{"".join(charts)}</div>'
    )
    return section("charts", title, body)


def label_section(
    label_issues: pd.DataFrame | None, queue: pd.DataFrame | None, images: dict[str, StoredImage]
) -> str:
    """The top of the label-issue review queue with given and suggested labels."""
    title = "Label issues (review queue)"
    if label_issues is None or queue is None:
        body = '<p class="muted">No label audit in this run (no label_issues table).</p>'
    elif queue.empty:
        body = '<p class="muted">The label audit found no suspected label errors.</p>'
    else:
        body = (
            f'<p class="muted">Rows whose given label the audit doubts, most suspicious first '
            f"(top {len(queue)} of {fmt_count(len(label_issues))}).</p>"
            + render_label_queue(queue, len(label_issues), images)
        )
    return section("label-issues", title, body)


def checks_section(summary: Mapping[str, Any]) -> str:
    """Every check of both stages, collapsed by default."""
    checks = all_checks(summary)
    failed = sum(not c.get("success") and not c.get("skipped") for c in checks)
    rows = []
    for c in checks:
        if c.get("skipped"):
            cls, state = "muted", "skipped"
        elif c.get("success"):
            cls, state = "pass", "pass"
        else:
            cls, state = ("fail" if c.get("severity") == "error" else "warn"), "FAIL"
        rows.append(
            _row(
                esc(c["stage"]),
                esc(c.get("split") or "all"),
                esc(c.get("name")),
                esc(c.get("suite") or ""),
                esc(c.get("severity")),
                esc(c.get("action")),
                f'<span class="{cls}">{esc(state)}</span>',
                "#" + fmt_count(c.get("unexpected_count", 0)),
                f'<span class="det">{esc(c.get("description", ""))}</span>',
            )
        )
    headers = (
        "stage",
        "split",
        "check",
        "suite",
        "severity",
        "action",
        "result",
        "#rows",
        "description",
    )
    body = (
        f"<details><summary>{len(checks)} checks, {failed} failed (raw and cleaned stages)"
        f"</summary>{_table(headers, rows, 'checks-table')}</details>"
    )
    return section("checks", "All checks", body)


def artefacts_section(artefacts: Mapping[str, str | None]) -> str:
    """Links to the run's other files (relative to the run folder, like the report)."""
    links = "".join(
        f'<li><a href="{esc(v)}">{esc(k)}</a> <span class="muted">{esc(v)}</span></li>'
        for k, v in artefacts.items()
        if v and k != "report"
    )
    return section("artefacts", "Artefacts", f'<ul class="links">{links}</ul>')
