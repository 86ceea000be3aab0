"""The HTML report: summary, every check with pass/fail and counts, thumbnails of flagged rows.

Self-contained (images are inline PNG data URIs) and every string from the data is escaped.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from PIL import Image

from dataqual.files import atomic_path
from dataqual.spec import DatasetSpec
from dataqual.store.schema import table_images

__all__ = ["png_data_uri", "write_report"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.pass{color:#0a7d28}.fail{color:#b00020}.warn{color:#a15c00}
.gallery{display:flex;flex-wrap:wrap;gap:.5rem}.tile{font-size:.75rem;text-align:center;width:84px}
.tile img{width:84px;height:84px;image-rendering:pixelated;border:1px solid #999}
"""


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 grayscale image as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), mode="L").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _quarantine_gallery(path: Path, per_reason: int = 8) -> str:
    if not Path(path).is_file():
        return "<p>No quarantine table.</p>"
    pf = pq.ParquetFile(path)
    if pf.metadata.num_rows == 0:
        return "<p>No rows were removed.</p>"
    meta = pf.schema_arrow.metadata or {}
    h, w = int(meta[b"dataqual.height"]), int(meta[b"dataqual.width"])
    table = pf.read()
    images = table_images(table, h, w)
    reasons = table.column("reasons").to_pylist()
    ids = table.column("id").to_pylist()
    labels = table.column("label").to_pylist()
    seen: dict[str, int] = {}
    tiles = []
    for i, rs in enumerate(reasons):
        key = ",".join(rs)
        if seen.get(key, 0) >= per_reason:
            continue
        seen[key] = seen.get(key, 0) + 1
        tiles.append(
            f'<div class="tile"><img alt="{_e(ids[i])}" src="{png_data_uri(images[i])}">'
            f"<div>{_e(ids[i])}</div><div>label {_e(labels[i])}</div><div>{_e(key)}</div></div>"
        )
    return f'<div class="gallery">{"".join(tiles)}</div>'


def write_report(
    path: Path,
    *,
    summary: dict[str, Any],
    findings: pd.DataFrame,
    raw_profile: Any,
    quarantine: Path,
    shards: Path,
    artefacts: dict[str, str | None],
    spec: DatasetSpec,
) -> Path:
    """Write the run's HTML report to ``path`` (atomically) and return it."""
    ok = summary["success"]
    rows = []
    for check in summary["checks"]:
        cls = "pass" if check["success"] else ("fail" if check["severity"] == "error" else "warn")
        state = "skipped" if check.get("skipped") else ("pass" if check["success"] else "FAIL")
        rows.append(
            f"<tr><td>{_e(check['split'] or 'all')}</td><td>{_e(check['name'])}</td>"
            f"<td>{_e(check['severity'])}</td><td>{_e(check['action'])}</td>"
            f'<td class="{cls}">{_e(state)}</td><td>{_e(check["unexpected_count"])}</td>'
            f"<td>{_e(', '.join(check['examples']))}</td></tr>"
        )
    counts = summary["counts"]
    links = "".join(
        f'<li><a href="{_e(v)}">{_e(k)}</a></li>' for k, v in artefacts.items() if v and k != "report"
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dataqual report: {_e(spec.name)}</title>
<style>{_CSS}</style></head><body>
<h1>dataqual report: {_e(spec.name)}</h1>
<p class="{"pass" if ok else "fail"}" id="status"><strong>{"PASSED" if ok else "FAILED VALIDATION"}</strong></p>
<p>Source: {_e(summary["source"])} ({_e(summary["format"])})</p>
<table id="counts"><tr><th>rows</th><th>kept</th><th>repaired</th><th>quarantined</th></tr>
<tr><td>{counts["rows"]}</td><td>{counts["kept"]}</td><td>{counts["repaired"]}</td><td>{counts["quarantined"]}</td></tr></table>
<h2>Checks</h2>
<table id="checks"><tr><th>split</th><th>check</th><th>severity</th><th>action</th><th>result</th><th>rows</th><th>examples</th></tr>
{"".join(rows)}</table>
<h2>Quarantined images</h2>
{_quarantine_gallery(quarantine)}
<h2>Artefacts</h2><ul>{links}</ul>
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
