"""What GX is handed: frames with text made safe for Data Docs and numbers GX vectorises.

GX 1.x renders Data Docs from ``.j2`` templates with autoescape off (Jinja's
``select_autoescape(["html", "xml"])`` does not match ``.j2``), and table cells such as
unexpected values go in raw: a record id read from a file name like
``<img src=x onerror=...>.png`` would run as script when Data Docs are opened. So GX never
sees a raw text value that holds markup; :func:`restore` maps GX's results back.
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["gx_friendly", "html_safe", "plain_name", "restore"]

#: Characters HTML gives a meaning.
_HTML_SPECIAL = r"[&<>\"']"
_SPECIAL_BYTES = tuple(c.encode() for c in "&<>\"'")
#: What a split name may keep in GX names (they become Data Docs paths and titles).
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def plain_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``_`` and ``-`` made ``_``: GX
    turns suite names into Data Docs paths (a dot is a folder) and titles."""
    return _NAME_UNSAFE.sub("_", name)


def html_safe(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` with every text value that holds ``&<>"'`` HTML-escaped, and the
    escaped -> true value map.

    Escaping is injective, so uniqueness and equality checks judge the same rows; an escaped
    value always holds ``&`` and an untouched one never does, so the map is exact. Arrow
    string columns are first checked as one byte buffer (about a millisecond for a million
    ids), so columns without markup cost nothing more; the caller's table is not modified.
    """
    columns: dict[str, pd.Series] = {}
    original: dict[str, str] = {}
    for name in table.columns:
        column = table[name]
        text = _text_of(column)
        if text is None or not _may_hold_markup(text):
            continue
        unsafe = text.str.contains(_HTML_SPECIAL, regex=True, na=False).to_numpy(dtype=bool)
        if not unsafe.any():
            continue
        raw = text[unsafe]
        escaped = raw.map(html.escape)
        original.update(zip(escaped.tolist(), raw.tolist(), strict=True))
        safe = column.astype(object) if isinstance(column.dtype, pd.CategoricalDtype) else column
        safe = safe.copy()
        safe[unsafe] = escaped
        columns[name] = safe
    return (table.assign(**columns) if columns else table), original


def _text_of(column: pd.Series) -> pd.Series | None:
    """The text values of ``column`` (other values as missing), or None when it holds none."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        column = column.astype(object)
    if isinstance(column.dtype, pd.StringDtype):
        return column
    if column.dtype != object:
        return None
    if pd.api.types.infer_dtype(column) in ("string", "empty"):
        return column
    return column.where(column.map(type).eq(str).to_numpy(dtype=bool))


def _may_hold_markup(text: pd.Series) -> bool:
    """False when no value of ``text`` can hold ``&<>"'``: an Arrow string column's value
    bytes are searched at once (a slice's buffer may hold more values: only a false True)."""
    if not (isinstance(text.dtype, pd.StringDtype) and text.dtype.storage == "pyarrow"):
        return True
    data = pa.array(text.array)
    for chunk in data.chunks if isinstance(data, pa.ChunkedArray) else [data]:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return True
        values = chunk.buffers()[2]
        raw = values.to_pybytes() if values is not None else b""
        if any(c in raw for c in _SPECIAL_BYTES):
            return True
    return False


def restore(value: Any, original: dict[str, str]) -> Any:
    """``value`` (a GX result: a string, or lists and dicts of them) with escaped text
    values mapped back to the true ones."""
    if not original:
        return value
    if isinstance(value, str):
        return original.get(value, value)
    if isinstance(value, dict):
        return {k: restore(v, original) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [restore(v, original) for v in value]
    return value


def gx_friendly(table: pd.DataFrame) -> pd.DataFrame:
    """Widen float32/int32 columns: GX's pandas metrics vectorise only int64 and float64
    (others fall back to a Python call per value, 10x slower)."""
    widen = {c: np.float64 for c in table.columns if table[c].dtype == np.float32}
    widen |= {c: np.int64 for c in table.columns if table[c].dtype in (np.int32, np.int16, np.int8)}
    return table.astype(widen) if widen else table
