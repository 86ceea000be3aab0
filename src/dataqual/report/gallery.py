"""Galleries of flagged rows: one per finding type, capped, with duplicates and leaks as pairs.

Planning (which ids to show) is separate from rendering so the page can fetch every image it
needs in one pass over the quarantine table and the shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dataqual.checks.registry import Partner, partner_columns
from dataqual.report.images import StoredImage, png_data_uri
from dataqual.report.markup import esc, fmt_count, fmt_score, slug

__all__ = [
    "DEFAULT_CAP",
    "Gallery",
    "GalleryRow",
    "RowInfo",
    "label_queue",
    "plan_galleries",
    "render_gallery",
    "render_label_queue",
    "row_info",
]

#: Images shown per finding type; the rest are counted, not shown.
DEFAULT_CAP = 24

_ACTION_WORD = {
    "quarantine": "quarantined",
    "drop": "dropped",
    "repair": "repaired",
    "flag": "flagged",
}
_SEVERITY_ORDER = {"error": 0, "warning": 1}
_MISSING = "image not found in the quarantine table or the shards"


@dataclass(frozen=True)
class GalleryRow:
    """One shown finding; ``partner`` is the row it duplicates or leaks into, if any."""

    id: str
    split: str
    detail: str
    action_taken: str
    partner: str | None = None
    relation: str = ""


@dataclass
class Gallery:
    """The shown rows of one finding type (check at a stage) and how many it has in all."""

    check: str
    stage: str
    severity: str
    action: str
    total: int
    rows: list[GalleryRow] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return slug("g", self.stage, self.check)

    @property
    def hidden(self) -> int:
        return self.total - len(self.rows)

    def ids(self) -> set[str]:
        return {r.id for r in self.rows} | {r.partner for r in self.rows if r.partner}


@dataclass(frozen=True)
class RowInfo:
    """What is known about a row's label: given, suggested and the label-quality score."""

    label: object = None
    suggested: object = None
    score: object = None


def _text(series: pd.Series) -> pd.Series:
    return series.astype("string").fillna("")


def plan_galleries(
    findings: pd.DataFrame, profile: pd.DataFrame | None, cap: int = DEFAULT_CAP
) -> list[Gallery]:
    """Row-level findings grouped by (stage, check): raw first, errors first, then by size."""
    if findings is None or findings.empty or "id" not in findings or "check" not in findings:
        return []
    f = findings.assign(
        id=_text(findings["id"]),
        split=_text(findings["split"]) if "split" in findings else "",
        detail=_text(findings["detail"]) if "detail" in findings else "",
        stage=_text(findings["stage"]) if "stage" in findings else "raw",
        severity=_text(findings["severity"]) if "severity" in findings else "",
        action=_text(findings["action"]) if "action" in findings else "",
    )
    taken = findings["action_taken"] if "action_taken" in findings else findings.get("action")
    f["action_taken"] = _text(taken) if taken is not None else ""
    f = f[f["id"] != ""]
    galleries = []
    for (stage, check), group in f.groupby(["stage", "check"], sort=False):
        group = group.drop_duplicates("id")
        first = group.iloc[0]
        galleries.append(
            Gallery(
                check=str(check),
                stage=str(stage),
                severity=str(first["severity"]),
                action=str(first["action"]),
                total=len(group),
                rows=[
                    GalleryRow(id=r.id, split=r.split, detail=r.detail, action_taken=r.action_taken)
                    for r in group.head(cap).itertuples(index=False)
                ],
            )
        )
    galleries.sort(
        key=lambda g: (g.stage != "raw", _SEVERITY_ORDER.get(g.severity, 2), -g.total, g.check)
    )
    _add_partners(galleries, profile)
    return galleries


def _add_partners(galleries: list[Gallery], profile: pd.DataFrame | None) -> None:
    """Give each shown row of a check with a registered partner column its paired row."""
    partners = partner_columns()
    wanted = {r.id for g in galleries if g.check in partners for r in g.rows}
    if profile is None or "id" not in profile or not wanted:
        return
    table = profile[profile["id"].isin(wanted)].drop_duplicates("id").set_index("id")
    for gallery in galleries:
        partner = partners.get(gallery.check)
        if partner is None or partner.column not in table:
            continue
        found = _partner_ids(partner, table, profile)
        gallery.rows = [
            GalleryRow(r.id, r.split, r.detail, r.action_taken, found[r.id], partner.relation)
            if found.get(r.id)
            else r
            for r in gallery.rows
        ]


def _partner_ids(partner: Partner, table: pd.DataFrame, profile: pd.DataFrame) -> dict[str, str]:
    """Row id -> partner id for the rows of ``table`` (indexed by id) that have one."""
    values = table[partner.column]
    if not partner.same_value:
        return {str(i): str(v) for i, v in values.items() if not pd.isna(v) and str(v)}
    same = profile[profile[partner.column].isin(set(values.dropna()))]
    by_value: dict[str, list[str]] = {}
    for rid, value in zip(same["id"].tolist(), same[partner.column].tolist(), strict=True):
        by_value.setdefault(str(value), []).append(str(rid))
    found = {}
    for rid, value in values.items():
        others = [o for o in by_value.get(str(value), []) if o != rid]
        if others:
            found[str(rid)] = others[0]
    return found


#: (table, column -> RowInfo field) sources of :func:`row_info`, later ones winning.
_PROFILE_INFO = {"label": "label", "suggested_label": "suggested", "label_quality": "score"}
_QUEUE_INFO = {"given_label": "label", "suggested_label": "suggested", "score": "score"}


def row_info(
    ids: set[str], profile: pd.DataFrame | None, label_issues: pd.DataFrame | None
) -> dict[str, RowInfo]:
    """Label, suggested label and score of ``ids`` from the profile and the review queue."""
    info: dict[str, dict[str, object]] = {i: {} for i in ids}
    for table, columns in ((profile, _PROFILE_INFO), (label_issues, _QUEUE_INFO)):
        if table is None or "id" not in table or not ids:
            continue
        part = table[table["id"].astype("string").isin(ids)]
        for column, key in columns.items():
            if column in part:
                for rid, value in zip(part["id"].tolist(), part[column].tolist(), strict=True):
                    if not pd.isna(value):
                        info[str(rid)][key] = value
    return {i: RowInfo(**v) for i, v in info.items()}


def _img(rid: str, images: dict[str, StoredImage], thumb: np.ndarray | None = None) -> str:
    if thumb is not None:
        return f'<img class="thumb" alt="{esc(rid)} before repair" src="{png_data_uri(thumb)}">'
    stored = images.get(rid)
    if stored is None:
        return f'<div class="noimg" title="{_MISSING}">no image</div>'
    return f'<img alt="{esc(rid)}" src="{png_data_uri(stored.image)}">'


def _label_line(rid: str, images: dict[str, StoredImage], info: dict[str, RowInfo]) -> str:
    known = info.get(rid, RowInfo())
    stored = images.get(rid)
    label = stored.label if stored is not None and stored.label is not None else known.label
    parts = [f"label <b>{esc('?' if label is None else label)}</b>"]
    if known.suggested is not None and str(known.suggested) != str(label):
        parts.append(f'<span class="sugg">→ {esc(known.suggested)}</span>')
    if known.score is not None:
        parts.append(
            f'<span class="score" title="label quality score">{esc(fmt_score(known.score))}</span>'
        )
    return f'<div class="meta">{" ".join(parts)}</div>'


def _cell(
    rid: str,
    caption: str,
    images: dict[str, StoredImage],
    info: dict[str, RowInfo],
    thumb: np.ndarray | None = None,
) -> str:
    meta = _label_line(rid, images, info) if thumb is None and caption == rid else ""
    return (
        f'<div class="cell">{_img(rid, images, thumb)}'
        f'<div class="rid" title="{esc(caption)}">{esc(caption)}</div>{meta}</div>'
    )


@dataclass(frozen=True)
class _Media:
    """What tiles show: stored images, label info and the raw thumbnails of repaired rows
    (the shards hold the repaired image)."""

    images: dict[str, StoredImage]
    info: dict[str, RowInfo]
    thumbs: dict[str, np.ndarray]


def _tile(row: GalleryRow, media: _Media) -> str:
    """One flagged row: a single image, a pair (row and partner) or before/after a repair."""
    images, info, thumbs = media.images, media.info, media.thumbs
    word = _ACTION_WORD.get(row.action_taken, row.action_taken)
    badge = f'<span class="badge {slug(row.action_taken)}">{esc(word)}</span>' if word else ""
    detail = (
        f'<div class="detail" title="{esc(row.detail)}">{esc(row.detail)}</div>'
        if row.detail
        else ""
    )
    caption = f"<figcaption>{detail}{badge}</figcaption>"
    if row.partner:
        cells = (
            _cell(row.id, row.id, images, info)
            + f'<div class="rel">{esc(row.relation)} →</div>'
            + _cell(row.partner, row.partner, images, info)
        )
        return f'<figure class="tile pair"><div class="cells">{cells}</div>{caption}</figure>'
    head = f'<div class="rid" title="{esc(row.id)}">{esc(row.id)}</div>'
    if row.id in thumbs:
        cells = (
            _cell(row.id, "before", images, info, thumbs[row.id])
            + '<div class="rel">repaired →</div>'
            + _cell(row.id, "after", images, info)
        )
        return (
            f'<figure class="tile pair"><div class="cells">{cells}</div>{head}'
            f"{_label_line(row.id, images, info)}{caption}</figure>"
        )
    return (
        f'<figure class="tile">{_img(row.id, images)}{head}'
        f"{_label_line(row.id, images, info)}{caption}</figure>"
    )


def render_gallery(
    gallery: Gallery,
    images: dict[str, StoredImage],
    info: dict[str, RowInfo],
    thumbs: dict[str, np.ndarray],
    description: str = "",
) -> str:
    """One finding type: heading with counts, tiles, and how many rows are not shown."""
    stage = "" if gallery.stage == "raw" else f' <span class="stage">{esc(gallery.stage)}</span>'
    sev = f'<span class="badge {slug(gallery.severity)}">{esc(gallery.severity)}</span>'
    more = (
        f'<p class="more">{fmt_count(gallery.hidden)} more not shown (first {len(gallery.rows)} of '
        f"{fmt_count(gallery.total)}); see findings.parquet.</p>"
        if gallery.hidden > 0
        else ""
    )
    desc = f'<p class="desc">{esc(description)}</p>' if description else ""
    media = _Media(images, info, thumbs)
    tiles = "".join(_tile(r, media) for r in gallery.rows)
    return (
        f'<section class="gallery-block" id="{gallery.anchor}" data-check="{esc(gallery.check)}">'
        f"<h3>{esc(gallery.check)}{stage} {sev} <small>{fmt_count(gallery.total)} "
        f"row{'s' if gallery.total != 1 else ''} · action {esc(gallery.action)}</small></h3>{desc}"
        f'<div class="gallery">{tiles}</div>{more}</section>'
    )


def label_queue(label_issues: pd.DataFrame | None, cap: int = DEFAULT_CAP) -> pd.DataFrame | None:
    """The top ``cap`` rows of the review queue, by rank (else by ascending score)."""
    if label_issues is None or "id" not in label_issues:
        return None
    queue = label_issues.copy()
    if "rank" in queue:
        queue = queue.sort_values("rank", kind="stable")
    elif "score" in queue:
        queue = queue.sort_values("score", kind="stable")
    return queue.head(cap)


def _value(value: object) -> str:
    return "?" if value is None or pd.isna(value) else esc(value)


def render_label_queue(queue: pd.DataFrame, total: int, images: dict[str, StoredImage]) -> str:
    """Tiles of the review queue: image, id, given and suggested label, score and rank."""
    tiles = []
    for r in queue.to_dict("records"):
        rid = str(r.get("id", ""))
        rank = r.get("rank")
        where = f"image from {images[rid].origin}" if rid in images else ""
        score = fmt_score(r.get("score"))
        rank_text = f"#{esc(rank)}" if rank is not None and not pd.isna(rank) else ""
        note = " · ".join(t for t in (rank_text, f"score {esc(score)}" if score else "") if t)
        tiles.append(
            f'<figure class="tile queue-tile" title="{esc(where)}">{_img(rid, images)}'
            f'<div class="rid" title="{esc(rid)}">{esc(rid)}</div>'
            f'<div class="meta">given <b class="given">{_value(r.get("given_label"))}</b> → '
            f'<b class="sugg">{_value(r.get("suggested_label"))}</b></div>'
            f'<figcaption><div class="detail">{note}</div></figcaption></figure>'
        )
    more = (
        f'<p class="more">{fmt_count(total - len(queue))} more in label_issues.parquet.</p>'
        if total > len(queue)
        else ""
    )
    return f'<div class="gallery queue">{"".join(tiles)}</div>{more}'
