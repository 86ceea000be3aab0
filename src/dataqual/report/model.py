"""The report's Model section: test accuracy, per-class accuracy, confusion matrix, training
curves and the eval images the model gets most confidently wrong.

The section sits between two comment markers so that training after the report was written
(inside a run, or ``dataqual train --run``) replaces only it: :func:`refresh_model_section`
keeps the rest of the page byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataqual.files import atomic_path
from dataqual.report.charts import line_chart
from dataqual.report.images import StoredImage, fetch_images, png_data_uri
from dataqual.report.markup import esc, fmt_count

__all__ = [
    "MODEL_END",
    "MODEL_START",
    "ModelResults",
    "label_queue_ids",
    "model_section",
    "refresh_model_section",
]

MODEL_START = "<!-- dataqual:model -->"
MODEL_END = "<!-- /dataqual:model -->"

_WHY = {
    "skipped": "Training was skipped (the run was made with --no-train). Train it later with "
    "`dataqual train --run RUN_DIR`; this section is then filled in.",
    "refused": "Training was refused: the data failed validation (use --force to train anyway).",
}


@dataclass(frozen=True)
class ModelResults:
    """What the Model section shows: ``metrics`` (the content of ``metrics.json``, or None
    when there is none), what became of ``training`` (``done``, ``forced``, ``refused``,
    ``skipped``) and why (``note``), the ids in the label-issue queue (marked in the
    gallery) and the class names, by label, when the spec has them."""

    metrics: Mapping[str, Any] | None
    training: str = "skipped"
    note: str = ""
    queue_ids: frozenset[str] = frozenset()
    class_names: Sequence[str] = field(default_factory=tuple)
    comparison: Mapping[str, Any] | None = None  # compare_raw.json (--compare-raw)

    def most_wrong(self) -> list[dict[str, Any]]:
        return list((self.metrics or {}).get("most_wrong") or [])

    def ids(self) -> set[str]:
        """Ids of the most-wrong images (fetched with the rest of the page's images)."""
        return {str(w.get("id")) for w in self.most_wrong() if w.get("id")}

    def name(self, label: Any) -> str:
        try:
            i = int(label)
        except (TypeError, ValueError):
            return str(label)
        named = 0 <= i < len(self.class_names) and self.class_names[i] != str(i)
        return f"{i} {self.class_names[i]}" if named else str(i)


def label_queue_ids(findings: pd.DataFrame | None, label_issues: pd.DataFrame | None) -> frozenset:
    """Ids of the label-issue queue: rows of ``label_issues`` and ``label_issue`` findings."""
    ids: set[str] = set()
    if label_issues is not None and "id" in label_issues:
        ids |= set(label_issues["id"].dropna().astype(str))
    if findings is not None and {"id", "check"} <= set(findings.columns):
        flagged = findings.loc[findings["check"].astype(str) == "label_issue", "id"]
        ids |= set(flagged.dropna().astype(str))
    return frozenset(ids)


def _kpi(value: str, label: str) -> str:
    return (
        f'<div class="kpi"><div class="v">{esc(value)}</div><div class="k">{esc(label)}</div></div>'
    )


def _pct(value: Any) -> str:
    try:
        return f"{float(value):.2%}"
    except (TypeError, ValueError):
        return "n/a"


def _kpis(metrics: Mapping[str, Any], training: str) -> str:
    ips = metrics.get("images_per_second")
    kpis = [
        _kpi(_pct(metrics.get("test_accuracy")), "test accuracy"),
        _kpi(fmt_count(metrics.get("epochs")), "epochs"),
        _kpi(fmt_count(metrics.get("train_rows")), "train rows"),
        _kpi(fmt_count(metrics.get("test_rows")), "test rows"),
        _kpi(fmt_count(round(ips)) if ips else "n/a", "images/s in training"),
    ]
    forced = (
        '<div class="blocking"><b>Forced:</b> the data failed validation and the model was '
        "trained anyway (--force).</div>"
        if training == "forced" or metrics.get("forced")
        else ""
    )
    return f'<div class="kpis" id="model-kpis">{"".join(kpis)}</div>{forced}'


def _per_class(results: ModelResults, confusion: np.ndarray) -> str:
    accuracy = (results.metrics or {}).get("per_class_accuracy") or {}
    support = confusion.sum(axis=1) if confusion.size else np.zeros(0, int)
    rows = []
    for label, value in sorted(accuracy.items(), key=lambda kv: int(kv[0])):
        i = int(label)
        n = fmt_count(support[i]) if i < len(support) else ""
        width = max(0.0, min(float(value), 1.0)) * 100
        rows.append(
            f'<tr data-class="{esc(label)}"><td>{esc(results.name(label))}</td>'
            f'<td class="num">{n}</td><td class="num acc">{_pct(value)}</td>'
            f'<td class="barcell"><span class="accbar" style="width:{width:.1f}%"></span></td></tr>'
        )
    head = '<th>class</th><th class="num">rows</th><th class="num">accuracy</th><th></th>'
    return (
        f'<table id="per-class-accuracy"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _points(value: Any) -> str:
    try:
        return f"{float(value) * 100:+.2f}"
    except (TypeError, ValueError):
        return "n/a"


def _compared(results: ModelResults) -> str:
    """ "Did cleaning help?": both models' accuracy on the same eval rows, per class too."""
    comp = results.comparison
    if not comp:
        return ""
    cleaned, raw = comp.get("cleaned") or {}, comp.get("raw") or {}
    delta = comp.get("delta")
    verdict = "n/a" if delta is None else "yes" if delta > 0 else "no" if delta < 0 else "no change"
    accuracy = _pct(cleaned.get("test_accuracy"))
    rows = "".join(
        f'<tr data-class="{esc(label)}"><td>{esc(results.name(label))}</td>'
        f'<td class="num">{_pct(v.get("raw"))}</td><td class="num">{_pct(v.get("cleaned"))}</td>'
        f'<td class="num delta">{_points(v.get("delta"))}</td></tr>'
        for label, v in sorted((comp.get("per_class") or {}).items(), key=lambda kv: int(kv[0]))
    )
    head = '<th>class</th><th class="num">raw</th><th class="num">cleaned</th>'
    return (
        '<div id="compare-raw"><h3>Did cleaning help?</h3>'
        f'<p id="compare-verdict"><b>{verdict}</b>: test accuracy {accuracy}'
        f" trained on the cleaned rows ({fmt_count(cleaned.get('train_rows'))}) against "
        f"{_pct(raw.get('test_accuracy'))} on the raw rows ({fmt_count(raw.get('train_rows'))}),"
        f" {_points(comp.get('delta'))} points; both evaluated on the same "
        f"{fmt_count(comp.get('eval_rows'))} cleaned eval rows, same model, seed and epochs.</p>"
        f'<table id="compare-per-class"><thead><tr>{head}<th class="num">points</th></tr>'
        f"</thead><tbody>{rows}</tbody></table></div>"
    )


def _confusion(results: ModelResults, confusion: np.ndarray) -> str:
    """Rows are true labels, columns predicted; cells shaded by their share of the row."""
    if confusion.size == 0:
        return '<p class="muted">No eval rows.</p>'
    k = len(confusion)
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    head = "".join(f'<th class="num">{esc(results.name(j))}</th>' for j in range(k))
    rows = []
    for i in range(k):
        cells = []
        for j in range(k):
            hue = "56,103,214" if i == j else "198,40,40"
            alpha = float(share[i, j]) * (0.85 if i == j else 1.0)
            tip = f"true {results.name(i)}, predicted {results.name(j)}: {confusion[i, j]:,}"
            cells.append(
                f'<td class="num{" diag" if i == j else ""}" title="{esc(tip)}" '
                f'style="background:rgba({hue},{alpha:.3f})">{confusion[i, j]:,}</td>'
            )
        rows.append(f'<tr><th scope="row">{esc(results.name(i))}</th>{"".join(cells)}</tr>')
    return (
        '<table id="confusion-matrix" class="confusion"><thead><tr>'
        f'<th class="corner">true ↓ · predicted →</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _curves(metrics: Mapping[str, Any]) -> str:
    history = metrics.get("history") or {}
    charts = []
    if history.get("loss"):
        charts.append(line_chart({"loss": history["loss"]}, title="Training loss per epoch"))
    if history.get("accuracy"):
        charts.append(
            line_chart(
                {"accuracy": history["accuracy"]},
                title="Training accuracy per epoch",
                y_fmt=lambda t: f"{t:.0%}",
            )
        )
    return f'<div class="charts">{"".join(charts)}</div>' if charts else ""


def _wrong_gallery(results: ModelResults, images: Mapping[str, StoredImage]) -> str:
    wrong = results.most_wrong()
    if not wrong:
        return '<p class="muted">The model got every eval image right.</p>'
    tiles = []
    for w in wrong:
        rid = str(w.get("id", ""))
        stored = images.get(rid)
        img = (
            f'<img alt="{esc(rid)}" src="{png_data_uri(stored.image)}">'
            if stored is not None
            else '<div class="noimg">no image</div>'
        )
        queued = rid in results.queue_ids
        badge = '<span class="badge flag">in label queue</span>' if queued else ""
        tiles.append(
            f'<figure class="tile wrong-tile" data-in-queue="{str(queued).lower()}">{img}'
            f'<div class="rid" title="{esc(rid)}">{esc(rid)}</div>'
            f'<div class="meta">given <b class="given">{esc(results.name(w.get("label")))}</b> '
            f'→ <b class="sugg">{esc(results.name(w.get("predicted")))}</b></div>'
            f'<figcaption><div class="detail">confidence {_pct(w.get("confidence"))}</div>'
            f"{badge}</figcaption></figure>"
        )
    overlap = sum(str(w.get("id")) in results.queue_ids for w in wrong)
    note = (
        f'<p class="muted">The {len(wrong)} eval images predicted wrong with the highest '
        f"confidence; {overlap} of them are also in the label-issue queue (marked).</p>"
    )
    return f'{note}<div class="gallery" id="most-wrong">{"".join(tiles)}</div>'


def model_section(results: ModelResults, images: Mapping[str, StoredImage]) -> str:
    """The Model card between :data:`MODEL_START` and :data:`MODEL_END`."""
    metrics = results.metrics
    if metrics is None:
        why = results.note or _WHY.get(results.training, f"Training: {results.training}.")
        body = f'<p class="muted" id="training-note">{esc(why)}</p>'
    else:
        confusion = np.asarray(metrics.get("confusion_matrix") or [], dtype=np.int64)
        body = (
            _kpis(metrics, results.training)
            + _compared(results)
            + '<div class="model-tables"><div><h3>Accuracy per class</h3>'
            + _per_class(results, confusion)
            + "</div><div><h3>Confusion matrix</h3>"
            + _confusion(results, confusion)
            + "</div></div><h3>Training curves</h3>"
            + _curves(metrics)
            + "<h3>Most confidently wrong test images</h3>"
            + _wrong_gallery(results, images)
        )
    card = f'<section class="card" id="model"><h2>Model</h2>{body}</section>'
    return f"{MODEL_START}{card}{MODEL_END}"


def refresh_model_section(report: Path, shards: Path, results: ModelResults) -> Path:
    """Replace the Model section of the report at ``report`` (atomically) with ``results``,
    reading the most-wrong images from the ``shards`` folder. A report written before the
    section existed gets it before ``</main>``."""
    report, shards = Path(report), Path(shards)
    page = report.read_text(encoding="utf-8")
    shape = _shard_shape(shards)
    images = fetch_images(results.ids(), quarantine=None, shards=shards, shape=shape)
    html = model_section(results, images)
    start, end = page.find(MODEL_START), page.find(MODEL_END)
    if start >= 0 and end > start:
        page = page[:start] + html + page[end + len(MODEL_END) :]
    else:
        page = page.replace("</main>", f"{html}</main>", 1)
    with atomic_path(report) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return report


def _shard_shape(shards: Path) -> tuple[int, int]:
    try:
        manifest = json.loads((shards / "manifest.json").read_text())
        return int(manifest["height"]), int(manifest["width"])
    except (OSError, ValueError, KeyError):
        return (28, 28)
