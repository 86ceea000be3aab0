"""Small HTML helpers shared by the report modules: escaping, anchors and number formats."""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["esc", "fmt_count", "fmt_score", "slug"]


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML elements and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def slug(*parts: Any) -> str:
    """An anchor id made of ``[a-z0-9-]`` only (never needs escaping)."""
    text = "-".join(str(p) for p in parts).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "x"


def fmt_count(value: Any) -> str:
    """An integer with thousands separators; anything else as text."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


def fmt_score(value: Any) -> str:
    """A score with three decimals, or an empty string when unknown."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if number != number else f"{number:.3f}"
