"""The HTML report: one self-contained page per run (inline CSS, SVG charts and PNG data URIs).

No scripts and no network: the page opens from disk. Every string from the data is escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataqual import __version__
from dataqual.files import atomic_path
from dataqual.profile import Profile
from dataqual.report.charts import bar_chart, histogram
from dataqual.report.gallery import (
    DEFAULT_CAP,
    Gallery,
    label_queue,
    plan_galleries,
    render_gallery,
    render_label_queue,
    row_info,
)
from dataqual.report.images import fetch_images, png_data_uri
from dataqual.report.markup import esc, fmt_count, slug
from dataqual.spec import DatasetSpec

__all__ = ["png_data_uri", "render_report", "write_report"]

_CSS = """
:root{--fg:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f5f7fa;--card:#fff;--ok:#0f7b3f;--bad:#c62828;
--warn:#b26a00;--accent:#3867d6}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:var(--fg);background:var(--bg)}
header.top{background:#1f2933;color:#fff;padding:1.1rem 2rem}
header.top h1{margin:0;font-size:1.35rem;font-weight:600}
header.top .src{color:#cbd2d9;font-size:.85rem;margin-top:.2rem;word-break:break-all}
nav{background:#fff;border-bottom:1px solid var(--line);padding:.45rem 2rem;position:sticky;top:0;z-index:2}
nav a{color:var(--accent);text-decoration:none;margin-right:1.1rem;font-size:.9rem}
main{max-width:1240px;margin:0 auto;padding:1rem 2rem 3rem}
section.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}
h2{font-size:1.1rem;margin:.1rem 0 .8rem}
h3{font-size:1rem;margin:1.2rem 0 .4rem}
h3 small,.muted{color:var(--muted);font-weight:400}
.status{display:inline-block;font-weight:700;letter-spacing:.04em;padding:.35rem .8rem;border-radius:6px;color:#fff}
.status.pass{background:var(--ok)}.status.fail{background:var(--bad)}
.kpis{display:flex;flex-wrap:wrap;gap:.75rem;margin:.9rem 0 .2rem}
.kpi{flex:1 1 130px;border:1px solid var(--line);border-radius:8px;padding:.55rem .8rem;background:#fbfcfd}
.kpi .v{font-size:1.45rem;font-weight:650}.kpi .k{color:var(--muted);font-size:.8rem}
.kpi.q .v{color:var(--bad)}.kpi.r .v{color:var(--warn)}.kpi.ok .v{color:var(--ok)}
.blocking{border-left:4px solid var(--bad);background:#fdecea;padding:.5rem .9rem;margin-top:.8rem;border-radius:4px}
.blocking ul{margin:.3rem 0 0;padding-left:1.2rem}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{border-bottom:1px solid var(--line);padding:.35rem .55rem;text-align:left;vertical-align:middle}
th{color:var(--muted);font-weight:600;background:#fafbfc}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.det{color:var(--muted);max-width:32rem;overflow-wrap:anywhere}
.pass{color:var(--ok)}.fail{color:var(--bad)}.warn{color:var(--warn)}
.badge{display:inline-block;font-size:.72rem;font-weight:600;padding:.05rem .45rem;border-radius:999px;
background:#e4e7eb;color:#323f4b;vertical-align:middle}
.badge.error,.badge.quarantine,.badge.drop{background:#fde2e1;color:#a61b1b}
.badge.warning,.badge.flag{background:#fff1d6;color:#8a5200}.badge.repair{background:#dff3e6;color:#0f6a37}
.stage{font-size:.75rem;color:#fff;background:var(--accent);border-radius:4px;padding:.05rem .35rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem}
svg.chart{max-width:100%;height:auto;background:#fff;border:1px solid var(--line);border-radius:6px}
svg.chart text{font:11px system-ui,sans-serif;fill:#52606d}
svg.chart .ct{font-weight:600;font-size:12px;fill:#1f2933}
svg.chart .yt{text-anchor:end}svg.chart .xt,svg.chart .xl{text-anchor:middle}
svg.chart .grid{stroke:#eef0f3}svg.chart .axis,svg.chart .tick{stroke:#9aa5b1}
.gallery{display:flex;flex-wrap:wrap;gap:.6rem}
figure.tile{margin:0;width:112px;border:1px solid var(--line);border-radius:6px;padding:.4rem;background:#fbfcfd;
font-size:.75rem;text-align:center}
figure.tile.pair{width:auto;min-width:112px}
figure.tile .cells,figure.tile.pair{display:flex;flex-wrap:wrap;align-items:flex-start;justify-content:center;gap:.2rem}
figure.tile.pair>.rid,figure.tile.pair>.meta,figure.tile.pair>figcaption{flex-basis:100%}
figure.tile .cell{width:96px}
figure.tile .rel{align-self:center;color:var(--muted);font-size:.7rem;width:3.4rem;line-height:1.1}
figure.tile img,.noimg{width:84px;height:84px;image-rendering:pixelated;border-radius:3px;background:#000;display:block;
margin:0 auto .2rem}
.noimg{background:#eee;color:#999;line-height:84px;font-size:.7rem}
.rid{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.72rem;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.meta b{font-size:.8rem}.sugg{color:var(--accent);font-weight:600}.score{color:var(--muted)}
figcaption{margin-top:.15rem}
.detail{color:var(--muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-size:.7rem}
.more{color:var(--muted);font-style:italic;margin:.4rem 0 0}.desc{color:var(--muted);margin:.1rem 0 .5rem}
table.queue td.img img,table.queue td.img .noimg{width:56px;height:56px;image-rendering:pixelated;background:#000;
border-radius:3px;display:block}
table.queue td.img .noimg{background:#eee;line-height:56px}
table.queue td.given{color:var(--bad);font-weight:600}table.queue td.sugg{color:var(--accent);font-weight:600}
details summary{cursor:pointer;color:var(--accent);margin:.2rem 0 .6rem}
ul.links{columns:2;margin:0;padding-left:1.2rem}
footer{color:var(--muted);font-size:.8rem;text-align:center;margin:2rem 0 1rem}
"""


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
    ``label_issues`` artefact beside ``path`` is read if it exists. ``cap`` bounds the images
    shown per finding type and in the review queue.
    """
    path = Path(path)
    if label_issues is None and artefacts.get("label_issues"):
        label_issues = path.parent / str(artefacts["label_issues"])
    if isinstance(label_issues, str | Path):
        label_issues = pd.read_parquet(label_issues) if Path(label_issues).is_file() else None
    page = render_report(summary=summary, findings=findings, raw_profile=raw_profile, quarantine=quarantine,
                         shards=shards, artefacts=artefacts, spec=spec, label_issues=label_issues, cap=cap)
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
    wanted = set().union(*(g.ids() for g in galleries)) if galleries else set()
    if queue is not None:
        wanted |= set(queue["id"].astype(str))
    shape = raw_profile.shape if raw_profile is not None else tuple(spec.shape)
    images = fetch_images(wanted, quarantine=quarantine, shards=shards, shape=shape)
    info = row_info(wanted, profile, label_issues)
    thumbs = _repair_thumbs(galleries, raw_profile)
    descriptions = {c.get("name"): c.get("description", "") for c in _all_checks(summary)}

    ok = bool(summary.get("success"))
    name = summary.get("dataset") or spec.name
    sections = [
        _summary_section(summary, findings, galleries, label_issues),
        _findings_section(findings, galleries),
        _charts_section(raw_profile, summary, spec),
        _label_section(label_issues, queue, images),
        '<section class="card" id="galleries"><h2>Flagged images by finding type</h2>'
        + ("".join(render_gallery(g, images, info, thumbs, descriptions.get(g.check, "")) for g in galleries)
           or '<p class="muted">No row was flagged.</p>')
        + "</section>",
        _checks_section(summary),
        _artefacts_section(artefacts),
    ]
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in (
        ("summary", "Summary"), ("findings", "Findings"), ("charts", "Data"), ("label-issues", "Label issues"),
        ("galleries", "Galleries"), ("checks", "Checks"), ("artefacts", "Artefacts")))
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>dataqual report: {esc(name)} ({"passed" if ok else "failed validation"})</title>
<link rel="icon" href="data:,"><style>{_CSS}</style></head><body>
<header class="top"><h1>dataqual report · {esc(name)}</h1>
<div class="src">{esc(summary.get("source", ""))} · format {esc(summary.get("format", ""))}</div></header>
<nav>{nav}</nav>
<main>{"".join(sections)}</main>
<footer>Generated {esc(generated)} by dataqual {esc(__version__)}. Images are inline; the page needs no network.</footer>
</body></html>
"""


def _all_checks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    raw = [{**c, "stage": "raw"} for c in summary.get("checks", [])]
    cleaned = [{**c, "stage": "cleaned"} for c in (summary.get("cleaned") or {}).get("checks", [])]
    return raw + cleaned


def _repair_thumbs(galleries: list[Gallery], raw_profile: Profile | None) -> dict[str, np.ndarray]:
    """Raw thumbnails of repaired rows, to show them before and after the repair."""
    ids = {r.id for g in galleries for r in g.rows if r.action_taken == "repair" and not r.partner}
    if not ids or raw_profile is None or len(raw_profile.thumbs) != len(raw_profile.table):
        return {}
    pos = np.flatnonzero(raw_profile.table["id"].isin(ids).to_numpy())
    side = int(round(raw_profile.thumbs.shape[1] ** 0.5)) if raw_profile.thumbs.ndim == 2 else 0
    if side * side != (raw_profile.thumbs.shape[1] if raw_profile.thumbs.ndim == 2 else -1):
        return {}
    rid = raw_profile.table["id"].to_numpy()
    return {str(rid[i]): raw_profile.thumbs[i].reshape(side, side) for i in pos}


def _kpi(value: Any, label: str, cls: str = "") -> str:
    return f'<div class="kpi {cls}"><div class="v">{esc(value)}</div><div class="k">{esc(label)}</div></div>'


def _share(part: Any, whole: Any) -> str:
    try:
        return f"{int(part) / int(whole):.2%} of rows" if int(whole) else ""
    except (TypeError, ValueError):
        return ""


def _summary_section(summary: dict[str, Any], findings: pd.DataFrame, galleries: list[Gallery],
                     label_issues: pd.DataFrame | None) -> str:
    ok = bool(summary.get("success"))
    counts = summary.get("counts", {})
    rows = counts.get("rows", 0)
    flagged = int(findings["id"].astype("string").replace("", pd.NA).dropna().nunique()) if "id" in findings else 0
    kpis = [
        _kpi(fmt_count(rows), "rows read"),
        _kpi(fmt_count(counts.get("kept", 0)), f"kept {_share(counts.get('kept', 0), rows)}".strip(), "ok"),
        _kpi(fmt_count(counts.get("repaired", 0)), "repaired (kept)", "r"),
        _kpi(fmt_count(counts.get("quarantined", 0)), f"quarantined {_share(counts.get('quarantined', 0), rows)}",
             "q"),
        _kpi(fmt_count(flagged), "rows with findings"),
        _kpi(len({g.check for g in galleries}), "finding types"),
    ]
    if label_issues is not None:
        kpis.append(_kpi(fmt_count(len(label_issues)), "suspected label issues"))
    blocking = ""
    if summary.get("blocking") or not ok:
        items = "".join(
            f"<li><b>{esc(b.get('name'))}</b> ({esc(b.get('split') or 'all')}): {esc(b.get('description', ''))}"
            f" — {fmt_count(b.get('unexpected_count', 0))} rows</li>" for b in summary.get("blocking", []))
        cleaned = [c for c in (summary.get("cleaned") or {}).get("checks", [])
                   if not c.get("success") and c.get("severity") == "error"]
        items += "".join(
            f"<li><b>{esc(c.get('name'))}</b> ({esc(c.get('split') or 'all')}) still fails after cleaning: "
            f"{esc(c.get('description', ''))}</li>" for c in cleaned)
        blocking = f'<div class="blocking"><b>Why it failed</b><ul>{items}</ul></div>' if items else ""
    status = "PASSED" if ok else "FAILED VALIDATION"
    return (f'<section class="card" id="summary"><h2>Summary</h2>'
            f'<span class="status {"pass" if ok else "fail"}" id="status">{status}</span>'
            f'<div class="kpis">{"".join(kpis)}</div>{blocking}</section>')


def _findings_section(findings: pd.DataFrame, galleries: list[Gallery]) -> str:
    if findings is None or findings.empty or "check" not in findings:
        return '<section class="card" id="findings"><h2>Findings by type</h2><p class="muted">No findings.</p></section>'
    f = findings.astype({c: "string" for c in findings.columns if c != "image"}).fillna("")
    if "action_taken" not in f:
        f["action_taken"] = f.get("action", "")
    for col in ("split", "stage", "severity", "action", "detail", "id"):
        if col not in f:
            f[col] = ""
    anchors = {(g.stage, g.check): g.anchor for g in galleries}
    rows = []
    for (stage, check), g in f.groupby(["stage", "check"], sort=False):
        rowwise = g[g["id"] != ""]
        taken = rowwise.drop_duplicates("id")["action_taken"].value_counts()
        anchor = anchors.get((stage, check))
        name = f'<a href="#{anchor}">{esc(check)}</a>' if anchor else esc(check)
        sev = str(g["severity"].iloc[0])
        detail = "" if len(rowwise) else esc(g["detail"].iloc[0])
        rows.append((
            stage != "raw", {"error": 0, "warning": 1}.get(sev, 2), -rowwise["id"].nunique(), str(check),
            f'<tr><td>{name}</td><td>{esc(stage)}</td><td><span class="badge {slug(sev)}">{esc(sev)}</span></td>'
            f'<td>{esc(g["action"].iloc[0])}</td><td>{esc(", ".join(sorted(set(g["split"]) - {""})))}</td>'
            f'<td class="num">{fmt_count(rowwise["id"].nunique()) if len(rowwise) else "table"}</td>'
            f'<td class="num">{fmt_count(int(taken.get("quarantine", 0) + taken.get("drop", 0)))}</td>'
            f'<td class="num">{fmt_count(int(taken.get("repair", 0)))}</td>'
            f'<td class="num">{fmt_count(int(taken.get("flag", 0)))}</td><td class="det">{detail}</td></tr>',
        ))
    rows.sort(key=lambda r: r[:4])
    return ('<section class="card" id="findings"><h2>Findings by type</h2><table><thead><tr><th>check</th>'
            '<th>stage</th><th>severity</th><th>action</th><th>splits</th><th class="num">rows</th>'
            '<th class="num">removed</th><th class="num">repaired</th><th class="num">flagged</th>'
            f'<th>detail</th></tr></thead><tbody>{"".join(r[-1] for r in rows)}</tbody></table></section>')


def _label_key(value: Any) -> str:
    return "missing" if pd.isna(value) else str(int(value))


def _charts_section(raw_profile: Profile | None, summary: dict[str, Any], spec: DatasetSpec) -> str:
    if raw_profile is None or raw_profile.table.empty:
        return '<section class="card" id="charts"><h2>Data</h2><p class="muted">No profile.</p></section>'
    table = raw_profile.table
    splits = list(dict.fromkeys(table["split"].astype(str).tolist()))
    charts = []
    declared = [str(c) for c in spec.classes]
    for split in splits:
        labels = table.loc[table["split"].astype(str) == split, "label"]
        raw_counts = labels.map(_label_key).value_counts()
        kept_counts = (summary.get("splits", {}).get(split) or {}).get("label_counts", {})
        extra = sorted((set(raw_counts.index) | set(kept_counts)) - set(declared) - {"missing"},
                       key=lambda s: (len(s), s))
        cats = declared + extra + (["missing"] if "missing" in raw_counts.index else [])
        charts.append(bar_chart(
            cats,
            {"raw": [int(raw_counts.get(c, 0)) for c in cats], "kept": [int(kept_counts.get(c, 0)) for c in cats]},
            title=f"Class distribution · {split}", x_label="label",
        ))
    by_split = {s: table["split"].astype(str) == s for s in splits}
    charts.append(histogram({s: table.loc[m, "mean"].to_numpy() for s, m in by_split.items()}, lo=0, hi=255,
                            title="Per-image mean intensity (share of rows)", x_label="mean pixel value (0–255)",
                            x_fmt=lambda v: f"{v:.0f}"))
    charts.append(histogram({s: table.loc[m, "ink_fraction"].to_numpy() for s, m in by_split.items()}, lo=0,
                            hi=1, title="Ink fraction per image (share of rows)",
                            x_label="fraction of pixels above 127", x_fmt=lambda v: f"{v:.2f}"))
    return ('<section class="card" id="charts"><h2>Data as delivered</h2><p class="muted">Raw rows before cleaning; '
            '“kept” bars count the rows written to the shards. Hover a bar for its value.</p>'
            f'<div class="charts">{"".join(charts)}</div></section>')


def _label_section(label_issues: pd.DataFrame | None, queue: pd.DataFrame | None, images: dict) -> str:
    head = '<section class="card" id="label-issues"><h2>Label issues (review queue)</h2>'
    if label_issues is None or queue is None:
        return head + '<p class="muted">No label audit in this run (no label_issues table).</p></section>'
    if queue.empty:
        return head + '<p class="muted">The label audit found no suspected label errors.</p></section>'
    return (head + f'<p class="muted">Rows whose given label disagrees with the model\'s suggestion, most '
            f"suspicious first (top {len(queue)} of {fmt_count(len(label_issues))}).</p>"
            + render_label_queue(queue, len(label_issues), images) + "</section>")


def _checks_section(summary: dict[str, Any]) -> str:
    checks = _all_checks(summary)
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
            f"<tr><td>{esc(c['stage'])}</td><td>{esc(c.get('split') or 'all')}</td><td>{esc(c.get('name'))}</td>"
            f"<td>{esc(c.get('suite') or '')}</td><td>{esc(c.get('severity'))}</td><td>{esc(c.get('action'))}</td>"
            f'<td class="{cls}">{esc(state)}</td><td class="num">{fmt_count(c.get("unexpected_count", 0))}</td>'
            f'<td class="det">{esc(c.get("description", ""))}</td></tr>'
        )
    return (f'<section class="card" id="checks"><h2>All checks</h2><details{" open" if failed else ""}>'
            f"<summary>{len(checks)} checks, {failed} failed (raw and cleaned stages)</summary>"
            '<table id="checks-table"><thead><tr><th>stage</th><th>split</th><th>check</th><th>suite</th>'
            '<th>severity</th><th>action</th><th>result</th><th class="num">rows</th><th>description</th></tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></details></section>')


def _artefacts_section(artefacts: dict[str, str | None]) -> str:
    links = "".join(f'<li><a href="{esc(v)}">{esc(k)}</a> <span class="muted">{esc(v)}</span></li>'
                    for k, v in artefacts.items() if v and k != "report")
    return (f'<section class="card" id="artefacts"><h2>Artefacts</h2><ul class="links">{links}</ul>'
            "<p class=\"muted\">Paths are relative to the run folder.</p></section>")
