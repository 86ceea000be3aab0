"""Drift against a reference profile: the one drift engine of dataqual.

Drift judges whole splits, not rows, so it comes back as results with every measured value
in ``observed`` (reported whether or not they fire); its thresholds are the fields of
:class:`DriftSettings` (overridden in ``expectations/drift.json``). There are no GX
expectations for drift: this analyser measures richer statistics than a KL divergence, and
scales each threshold by the sampling noise of the two splits' sizes.

Drift compares each split with the reference split of the same name (else the whole
reference), on values that a reference read back from ``profile.parquet`` still has. A check
fires when its value exceeds ``max`` plus ``noise``, the value expected between two samples of
these sizes from one distribution (e.g. label TVD: 0.007 for 60k vs 60k rows, 0.17 for 100 vs
100), so that small splits do not drift by chance:

* ``drift_labels``: total variation distance of the class shares (the share of rows that
  would have to change class). MNIST train vs test: 0.008; random halves of train: 0.009;
  removing half of one class: 0.043 (0.053 in train). Threshold 0.02.
* ``drift_intensity``: population stability index of the per-image mean intensity over the
  reference's decile bins. MNIST train vs test: 0.003; the usual reading is < 0.1 no
  change, > 0.25 a major shift. Threshold 0.1.
* ``drift_image_stats``: largest standardised mean difference (pooled std) over the image
  statistics columns (intensity, ink, centre of mass, bounding box...), which summarise the
  mean image. MNIST train vs test: 0.049 (ink); a 10 % dimming gives ~0.3. Threshold 0.2.
* ``drift_mean_image``: RMS difference of the mean 14x14 thumbnails in grey levels, when the
  reference has thumbnails or their means (:data:`MEAN_THUMBNAILS_ATTR` in the table's
  ``attrs``, which pandas keeps in the Parquet metadata; see :func:`mean_thumbnails`); else
  skipped. MNIST train vs test: 1.9; random halves: 0.4. Threshold 4.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.balance import class_shares
from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.checks.registry import Analyser, AnalyserSettings, Stage, register_analyser
from dataqual.profile import IMAGE_STATS, Profile, split_mask

__all__ = [
    "DRIFT_CHECKS",
    "MEAN_THUMBNAILS_ATTR",
    "Drift",
    "DriftSettings",
    "mean_thumbnails",
]

log = logging.getLogger(__name__)

#: Key of ``Profile.table.attrs`` holding {split: mean thumbnail (196 floats)}, "*" = all rows.
MEAN_THUMBNAILS_ATTR = "dataqual.mean_thumbnails"


class DriftSettings(AnalyserSettings):
    """Thresholds of the drift checks; each fires above its ``..._max`` plus the noise."""

    stages: tuple[Stage, ...] = Field(("raw",), description="Stages drift is measured at.")
    severity: Severity = Field(Severity.WARNING, description="Severity of a drift finding.")
    label_tvd_max: float = Field(
        0.02, ge=0, le=1, description="drift_labels: largest total variation distance."
    )
    intensity_bins: int = Field(
        10, ge=2, le=1000, description="drift_intensity: quantile bins of the reference."
    )
    intensity_psi_max: float = Field(
        0.1, ge=0, description="drift_intensity: largest population stability index."
    )
    image_stats_smd_max: float = Field(
        0.2, ge=0, description="drift_image_stats: largest standardised mean difference."
    )
    image_stats: tuple[str, ...] = Field(
        IMAGE_STATS, min_length=1, description="drift_image_stats: profile columns compared."
    )
    mean_image_rms_max: float = Field(
        4.0, ge=0, description="drift_mean_image: largest RMS difference in grey levels."
    )


#: Drift check name -> description.
DRIFT_CHECKS = {
    "drift_labels": "Class shares are close to the reference's (total variation distance)",
    "drift_intensity": "Per-image mean intensity is distributed as in the reference (PSI)",
    "drift_image_stats": "Image statistics have the reference's means (standardised difference)",
    "drift_mean_image": "The mean image is close to the reference's (RMS grey levels)",
}

_FLOOR = 1e-4  # share given to an empty bin, so that PSI stays finite
_NO_SPREAD = 1e6  # standardised difference reported when neither side varies but means differ


def mean_thumbnails(profile: Profile) -> dict[str, list[float]]:
    """The mean thumbnail of each split and of all rows ("*"), e.g. to store in a reference."""
    out: dict[str, list[float]] = {}
    if len(profile.thumbs) != len(profile.table) or not len(profile.thumbs):
        return out
    for name in [*profile.splits, "*"]:
        rows = np.ones(len(profile.table), bool) if name == "*" else profile.rows_of(name)
        out[str(name)] = profile.thumbs[rows].mean(axis=0, dtype=np.float64).round(4).tolist()
    return out


def _labels(
    cur: pd.DataFrame, ref: pd.DataFrame, context: AnalysisContext, s: DriftSettings
) -> dict[str, Any]:
    if cur["label"].notna().sum() == 0 or ref["label"].notna().sum() == 0:
        return {"skipped": "no labelled rows"}
    seen = pd.concat([cur["label"], ref["label"]]).dropna().astype(np.int64).unique()
    classes = np.union1d(np.asarray(context.spec.classes, np.int64), seen)
    a, b = class_shares(cur["label"], classes), class_shares(ref["label"], classes)
    tvd = 0.5 * float(np.abs(a - b).sum())
    n, m = int(cur["label"].notna().sum()), int(ref["label"].notna().sum())
    pooled, inverse = (a * n + b * m) / (n + m), 1 / n + 1 / m
    noise = 0.5 * float(np.sqrt(2 / np.pi * pooled * (1 - pooled) * inverse).sum())
    return {
        "value": round(tvd, 6),
        "max": s.label_tvd_max,
        "noise": round(noise, 6),
        "shares": dict(zip(classes.tolist(), a.round(5).tolist(), strict=True)),
        "reference_shares": dict(zip(classes.tolist(), b.round(5).tolist(), strict=True)),
    }


def _intensity(
    cur: pd.DataFrame, ref: pd.DataFrame, context: AnalysisContext, s: DriftSettings
) -> dict[str, Any]:
    x, r = cur["mean"].dropna().to_numpy(np.float64), ref["mean"].dropna().to_numpy(np.float64)
    if not len(x) or not len(r):
        return {"skipped": "no rows"}
    bins = s.intensity_bins
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1]))
    a = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) / len(x)
    b = np.bincount(np.searchsorted(edges, r, side="right"), minlength=len(edges) + 1) / len(r)
    af, bf = np.maximum(a, _FLOOR), np.maximum(b, _FLOOR)
    psi = float(((af - bf) * np.log(af / bf)).sum())
    return {
        "value": round(psi, 6),
        "max": s.intensity_psi_max,
        "noise": round(len(edges) * (1 / len(x) + 1 / len(r)), 6),
        "edges": edges.round(3).tolist(),
        "proportions": a.round(5).tolist(),
        "reference_proportions": b.round(5).tolist(),
    }


def _image_stats(
    cur: pd.DataFrame, ref: pd.DataFrame, context: AnalysisContext, s: DriftSettings
) -> dict[str, Any]:
    columns = [c for c in s.image_stats if c in cur and c in ref]
    if not columns or not len(cur) or not len(ref):
        return {"skipped": "no image statistics to compare"}
    x = cur[columns].to_numpy(np.float64)
    r = ref[columns].to_numpy(np.float64)
    pooled = np.sqrt((np.nanvar(x, axis=0) + np.nanvar(r, axis=0)) / 2)
    gap = np.abs(np.nanmean(x, axis=0) - np.nanmean(r, axis=0))
    # No spread on either side but different means: a shift of "infinitely" many stds.
    smd = np.where(
        pooled > 0, gap / np.where(pooled > 0, pooled, 1), np.where(gap > 0, _NO_SPREAD, 0.0)
    )
    noise = np.sqrt(2 * np.log(2 * len(columns)) * (1 / len(x) + 1 / len(r)))
    return {
        "value": round(float(smd.max()), 6),
        "max": s.image_stats_smd_max,
        "noise": round(float(noise), 6),
        "worst": columns[int(np.argmax(smd))],
        "smd": dict(zip(columns, smd.round(4).tolist(), strict=True)),
        "means": dict(zip(columns, np.nanmean(x, axis=0).round(4).tolist(), strict=True)),
        "reference_means": dict(zip(columns, np.nanmean(r, axis=0).round(4).tolist(), strict=True)),
    }


@register_analyser
class Drift(Analyser[DriftSettings]):
    """Compares every split with a reference profile (``context.reference``); without one,
    each drift check comes back skipped. Settings: :class:`DriftSettings`."""

    name: ClassVar[str] = "drift"
    Settings = DriftSettings

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        s: DriftSettings = self.settings(context)
        reference = context.reference
        if reference is None:
            why = "no reference profile given"
            return Analysis(
                results=[
                    _result(name, s.severity, context.stage, None, 0, {}, skipped=why)
                    for name in DRIFT_CHECKS
                ]
            )
        ref_means = _reference_mean_thumbnails(reference)
        results = []
        for split in profile.splits:
            rows = split_mask(profile.table, split)
            found, ref_name = _measure(profile, rows, reference, split, ref_means, context, s)
            for name, observed in found.items():
                skipped = observed.pop("skipped", None)
                observed["reference_split"] = ref_name
                results.append(
                    _result(
                        name, s.severity, context.stage, split, int(rows.sum()), observed, skipped
                    )
                )
        fired = [f"{r.split}:{r.name}" for r in results if not r.success]
        log.info("drift: %d checks, fired: %s", len(results), ", ".join(fired) or "none")
        return Analysis(results=results)


#: Drift check -> its measure on (split rows, reference rows, context, settings).
_MEASURES: dict[str, Callable[..., dict[str, Any]]] = {
    "drift_labels": _labels,
    "drift_intensity": _intensity,
    "drift_image_stats": _image_stats,
}


def _measure(
    profile: Profile,
    rows: np.ndarray,
    reference: Profile,
    split: str,
    ref_means: dict[str, np.ndarray],
    context: AnalysisContext,
    s: DriftSettings,
) -> tuple[dict[str, dict[str, Any]], str]:
    """Every drift measure of one split against the reference's split of the same name
    (else the whole reference), and that reference split's name ("*": all rows)."""
    ref_table = reference.table
    ref_rows = split_mask(ref_table, split)
    ref_name = split if ref_rows.any() else "*"
    ref_rows = ref_rows if ref_rows.any() else np.ones(len(ref_table), bool)
    cur, ref = profile.table[rows], ref_table[ref_rows]
    found = {name: fn(cur, ref, context, s) for name, fn in _MEASURES.items()}
    found["drift_mean_image"] = _mean_image(
        profile.thumbs, rows, ref_means.get(ref_name), int(ref_rows.sum()), s
    )
    return found, ref_name


def _reference_mean_thumbnails(reference: Profile) -> dict[str, np.ndarray]:
    stored = mean_thumbnails(reference) or reference.table.attrs.get(MEAN_THUMBNAILS_ATTR) or {}
    return {str(k): np.asarray(v, np.float64) for k, v in stored.items()}


def _mean_image(
    thumbs: np.ndarray,
    rows: np.ndarray,
    ref_mean: np.ndarray | None,
    ref_rows: int,
    s: DriftSettings,
) -> dict[str, Any]:
    if ref_mean is None:
        return {
            "skipped": "the reference has no thumbnails (a Parquet profile keeps only the table)"
        }
    if len(thumbs) != len(rows) or not rows.any():
        return {"skipped": "no thumbnails in this profile"}
    mean = thumbs[rows].mean(axis=0, dtype=np.float64)
    if mean.shape != ref_mean.shape:
        return {"skipped": f"thumbnail sizes differ ({mean.size} vs {ref_mean.size})"}
    diff = mean - ref_mean
    variance = thumbs[rows].var(axis=0, dtype=np.float64).mean()
    return {
        "value": round(float(np.sqrt(np.mean(diff**2))), 4),
        "max": s.mean_image_rms_max,
        "noise": round(float(np.sqrt(variance * (1 / rows.sum() + 1 / max(ref_rows, 1)))), 4),
        "largest_pixel_difference": round(float(np.abs(diff).max()), 3),
    }


def _result(
    name: str,
    severity: Severity,
    stage: str,
    split: str | None,
    rows: int,
    observed: dict[str, Any],
    skipped: str | None = None,
) -> CheckResult:
    if skipped is None:
        observed["limit"] = round(observed["max"] + observed["noise"], 6)
    success = skipped is not None or observed["value"] <= observed["limit"]
    return CheckResult(
        name=name,
        description=DRIFT_CHECKS[name],
        severity=severity,
        action=Action.NONE,
        success=bool(success),
        split=split,
        stage=stage,
        element_count=rows,
        observed=observed,
        suite="drift",
        skipped=skipped,
    )
