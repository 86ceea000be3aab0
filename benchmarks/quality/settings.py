"""The thresholds the benchmark reports on, read from the suites and the analysers' settings.

Nothing here restates a number: the image checks' bounds come from the expectations'
``kwargs``, the analysers' from their typed settings (defaults overlaid with the suites'
overrides) and the robust bounds from the suites' threshold rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Effective", "effective_settings", "kwarg", "threshold_summary"]


@dataclass(frozen=True)
class Effective:
    """What the suites in a folder make of each check: expectation kwargs per check,
    analyser settings (typed models) per analyser, threshold rules per profile column."""

    kwargs: dict[str, dict[str, Any]]
    analysers: dict[str, Any]
    rules: dict[str, Any]

    def analyser(self, name: str) -> dict[str, Any]:
        """One analyser's effective settings as a plain dict ({} when no suite turns it on)."""
        settings = self.analysers.get(name)
        return settings.model_dump() if settings is not None else {}


def effective_settings(suites_dir: Path | None) -> Effective:
    """The effective settings of the suites in ``suites_dir`` (default: the packaged ones)."""
    from dataqual.validate.suites import analyser_settings, load_suites

    suites = load_suites(suites_dir)
    kwargs = {meta.check: exp.get("kwargs", {}) for s in suites for exp, meta in s.expectations}
    rules = {col: rule for s in suites for col, rule in s.meta.thresholds.items()}
    return Effective(kwargs=kwargs, analysers=analyser_settings(suites), rules=rules)


def kwarg(effective: Effective, check: str, key: str) -> Any:
    """An expectation's kwarg, e.g. ``kwarg(e, "blank_image", "min_value")``; None if absent."""
    return effective.kwargs.get(check, {}).get(key)


def _parameters(kwargs: dict[str, Any]) -> list[str]:
    return [v["$PARAMETER"] for v in kwargs.values() if isinstance(v, dict) and "$PARAMETER" in v]


def _robust_checks(effective: Effective) -> list[str]:
    """Checks bounded by a threshold rule (a ``<column>_low``/``_high`` parameter)."""
    bounds = {f"{col}_{side}" for col in effective.rules for side in ("low", "high")}
    return [c for c, kw in effective.kwargs.items() if set(_parameters(kw)) & bounds]


def _rules_text(effective: Effective) -> str:
    """The robust rules in words, e.g. "quartiles -/+ 3 IQR, or a share of at most 1 %"."""
    ks = sorted({r.k for r in effective.rules.values() if r.method == "iqr"})
    shares = sorted({r.max_share for r in effective.rules.values() if r.method == "rare"})
    parts = [f"quartiles -/+ {' or '.join(f'{k:g}' for k in ks)} IQR"] if ks else []
    parts += [f"a share of at most {' or '.join(f'{s:.0%}' for s in shares)}"] if shares else []
    return ", or ".join(parts) or "none"


def threshold_summary(effective: Effective) -> dict[str, Any]:
    """The bounds docs/quality.md explains, by name."""
    near = effective.analyser("near_duplicates")
    audit = effective.analyser("label_issues")
    return {
        "blank_std_min": kwarg(effective, "blank_image", "min_value"),
        "inverted_border_max": kwarg(effective, "inverted_image", "max_value"),
        "pixel_low": kwarg(effective, "pixel_min_in_range", "min_value"),
        "pixel_high": kwarg(effective, "pixel_max_in_range", "max_value"),
        "near_max_distance": near.get("max_distance"),
        "near_leak_max_distance": near.get("leak_max_distance"),
        "audit": {k: audit.get(k) for k in ("filter_by", "neighbours", "max_quality")},
        "robust_checks": _robust_checks(effective),
        "robust_rules": _rules_text(effective),
    }
