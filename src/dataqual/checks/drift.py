"""Distribution checks: drift against a reference profile, and class balance.

These judge whole splits, not rows, so they come back as results with every measured value in
``observed`` (reported whether or not they fire), and their thresholds live in the settings
of ``expectations/drift.json``. (A GX distribution expectation would need the reference's
partition in its kwargs, which a static suite cannot hold, and GX fails an aggregate
expectation on a column of nulls, which is what a run without a reference would give.)

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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.profile import IMAGE_STATS, Profile, split_mask

__all__ = [
    "DEFAULT_BALANCE_SETTINGS",
    "DEFAULT_DRIFT_SETTINGS",
    "DRIFT_CHECKS",
    "INTENSITY_BINS",
    "MEAN_THUMBNAILS_ATTR",
    "ClassBalance",
    "Drift",
    "mean_thumbnails",
    "reference_partitions",
]

log = logging.getLogger(__name__)

#: Key of ``Profile.table.attrs`` holding {split: mean thumbnail (196 floats)}, "*" = all rows.
MEAN_THUMBNAILS_ATTR = "dataqual.mean_thumbnails"

DEFAULT_DRIFT_SETTINGS: dict[str, Any] = {
    "stages": ["raw"],
    "severity": "warning",
    "label_tvd_max": 0.02,
    "intensity_bins": 10,
    "intensity_psi_max": 0.1,
    "image_stats_smd_max": 0.2,
    "image_stats": list(IMAGE_STATS),
    "mean_image_rms_max": 4.0,
}

DEFAULT_BALANCE_SETTINGS: dict[str, Any] = {"stages": ["raw", "cleaned"], "severity": "error"}

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


def _shares(labels: pd.Series, classes: np.ndarray) -> np.ndarray:
    values = labels.dropna().to_numpy(dtype=np.int64)
    counts = (values[:, None] == classes[None, :]).sum(axis=0)
    return counts / max(1, len(values))


def _labels(
    cur: pd.DataFrame, ref: pd.DataFrame, context: AnalysisContext, s: dict[str, Any]
) -> dict[str, Any]:
    if cur["label"].notna().sum() == 0 or ref["label"].notna().sum() == 0:
        return {"skipped": "no labelled rows"}
    seen = pd.concat([cur["label"], ref["label"]]).dropna().astype(np.int64).unique()
    classes = np.union1d(np.asarray(context.spec.classes, np.int64), seen)
    a, b = _shares(cur["label"], classes), _shares(ref["label"], classes)
    tvd = 0.5 * float(np.abs(a - b).sum())
    n, m = int(cur["label"].notna().sum()), int(ref["label"].notna().sum())
    pooled, inverse = (a * n + b * m) / (n + m), 1 / n + 1 / m
    noise = 0.5 * float(np.sqrt(2 / np.pi * pooled * (1 - pooled) * inverse).sum())
    return {
        "value": round(tvd, 6),
        "max": float(s["label_tvd_max"]),
        "noise": round(noise, 6),
        "shares": dict(zip(classes.tolist(), a.round(5).tolist(), strict=True)),
        "reference_shares": dict(zip(classes.tolist(), b.round(5).tolist(), strict=True)),
    }


def _intensity(
    cur: pd.DataFrame, ref: pd.DataFrame, context: AnalysisContext, s: dict[str, Any]
) -> dict[str, Any]:
    x, r = cur["mean"].dropna().to_numpy(np.float64), ref["mean"].dropna().to_numpy(np.float64)
    if not len(x) or not len(r):
        return {"skipped": "no rows"}
    bins = max(2, int(s["intensity_bins"]))
    edges = np.unique(np.quantile(r, np.linspace(0, 1, bins + 1)[1:-1]))
    a = np.bincount(np.searchsorted(edges, x, side="right"), minlength=len(edges) + 1) / len(x)
    b = np.bincount(np.searchsorted(edges, r, side="right"), minlength=len(edges) + 1) / len(r)
    af, bf = np.maximum(a, _FLOOR), np.maximum(b, _FLOOR)
    psi = float(((af - bf) * np.log(af / bf)).sum())
    return {
        "value": round(psi, 6),
        "max": float(s["intensity_psi_max"]),
        "noise": round(len(edges) * (1 / len(x) + 1 / len(r)), 6),
        "edges": edges.round(3).tolist(),
        "proportions": a.round(5).tolist(),
        "reference_proportions": b.round(5).tolist(),
    }


def _image_stats(
    cur: pd.DataFrame, ref: pd.DataFrame, context: AnalysisContext, s: dict[str, Any]
) -> dict[str, Any]:
    columns = [c for c in s["image_stats"] if c in cur and c in ref]
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
        "max": float(s["image_stats_smd_max"]),
        "noise": round(float(noise), 6),
        "worst": columns[int(np.argmax(smd))],
        "smd": dict(zip(columns, smd.round(4).tolist(), strict=True)),
        "means": dict(zip(columns, np.nanmean(x, axis=0).round(4).tolist(), strict=True)),
        "reference_means": dict(zip(columns, np.nanmean(r, axis=0).round(4).tolist(), strict=True)),
    }


@dataclass(frozen=True)
class Drift:
    """Compares every split with a reference profile (``context.reference``); without one,
    each drift check comes back skipped. Settings: see :data:`DEFAULT_DRIFT_SETTINGS`."""

    name: str = "drift"

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        s = {**DEFAULT_DRIFT_SETTINGS, **context.settings}
        if context.stage not in s["stages"]:
            return Analysis()
        severity = Severity(s["severity"])
        reference = context.reference
        if reference is None:
            return Analysis(
                results=[
                    _result(
                        name,
                        severity,
                        context.stage,
                        None,
                        0,
                        {},
                        skipped="no reference profile given",
                    )
                    for name in DRIFT_CHECKS
                ]
            )
        table, ref_table = profile.table, reference.table
        ref_means = _reference_mean_thumbnails(reference)
        measures: dict[str, Callable[..., dict[str, Any]]] = {
            "drift_labels": _labels,
            "drift_intensity": _intensity,
            "drift_image_stats": _image_stats,
        }
        results = []
        for split in profile.splits:
            rows = split_mask(table, split)
            ref_rows = split_mask(ref_table, split)
            ref_name = split if ref_rows.any() else "*"
            ref_rows = ref_rows if ref_rows.any() else np.ones(len(ref_table), bool)
            cur, ref = table[rows], ref_table[ref_rows]
            found = {name: fn(cur, ref, context, s) for name, fn in measures.items()}
            found["drift_mean_image"] = _mean_image(
                profile.thumbs, rows, ref_means.get(ref_name), int(ref_rows.sum()), s
            )
            for name, observed in found.items():
                skipped = observed.pop("skipped", None)
                observed["reference_split"] = ref_name
                results.append(
                    _result(
                        name, severity, context.stage, split, int(rows.sum()), observed, skipped
                    )
                )
        fired = [f"{r.split}:{r.name}" for r in results if not r.success]
        log.info("drift: %d checks, fired: %s", len(results), ", ".join(fired) or "none")
        return Analysis(results=results)


def _reference_mean_thumbnails(reference: Profile) -> dict[str, np.ndarray]:
    stored = mean_thumbnails(reference) or reference.table.attrs.get(MEAN_THUMBNAILS_ATTR) or {}
    return {str(k): np.asarray(v, np.float64) for k, v in stored.items()}


def _mean_image(
    thumbs: np.ndarray,
    rows: np.ndarray,
    ref_mean: np.ndarray | None,
    ref_rows: int,
    s: dict[str, Any],
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
        "max": float(s["mean_image_rms_max"]),
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


@dataclass(frozen=True)
class ClassBalance:
    """Every class present in a split holds at least ``spec.min_class_share`` of its rows
    labelled with a declared class (absent classes are ``classes_present``'s finding, foreign
    labels ``label_in_classes``'). One result per split, with all shares in ``observed``.
    Settings: ``severity``, ``stages``."""

    name: str = "class_balance"

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        s = {**DEFAULT_BALANCE_SETTINGS, **context.settings}
        if context.stage not in s["stages"]:
            return Analysis()
        threshold = float(context.spec.min_class_share)
        table = profile.table
        results = []
        for name in profile.splits:
            labels = table.loc[profile.rows_of(name), "label"]
            classes = np.asarray(context.spec.classes, np.int64)
            labels = labels.where(labels.isin(classes))  # foreign labels: label_in_classes' finding
            shares = _shares(labels, classes)
            present = shares > 0
            below = classes[present & (shares < threshold)]
            smallest = int(np.argmin(np.where(present, shares, np.inf))) if present.any() else None
            observed = {
                "min_class_share": threshold,
                "shares": dict(zip(classes.tolist(), shares.round(5).tolist(), strict=True)),
                "smallest_class": None if smallest is None else int(classes[smallest]),
                "smallest_share": None if smallest is None else round(float(shares[smallest]), 5),
                "below": below.tolist(),
            }
            results.append(
                CheckResult(
                    name="class_balance",
                    description=f"Each class present holds >= {threshold:.1%} of the labelled rows",
                    severity=Severity(s["severity"]),
                    action=Action.NONE,
                    success=not len(below),
                    split=str(name),
                    stage=context.stage,
                    element_count=int(labels.notna().sum()),
                    observed=observed,
                    suite="drift",
                    skipped=None if present.any() else "no labelled rows",
                )
            )
        return Analysis(results=results)


#: Bins of per-image mean intensity for the GX KL-divergence expectation.
INTENSITY_BINS = np.linspace(0.0, 256.0, 17)


def reference_partitions(
    reference: Profile | None,
    split: str | None,
    classes: list[int],
    current: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """GX partition objects of the reference's split (``label_partition``,
    ``intensity_partition``) for the suites' KL-divergence expectations, and why any is
    missing. The reference's split of the same name is used, else the whole reference.
    The label partition covers the declared classes and every label either side holds
    (GX cannot score a value the partition lacks; invalid labels are another check's)."""
    names = ("label_partition", "intensity_partition")
    if reference is None or reference.table.empty:
        why = "no reference profile to compare with (run with --reference PROFILE.parquet)"
        return dict.fromkeys(names), dict.fromkeys(names, why)
    table = reference.table
    rows = split_mask(table, split) if split is not None else None
    if rows is not None and rows.any():
        table = table[rows]
    labels = pd.to_numeric(table["label"], errors="coerce").dropna().astype(int).to_numpy()
    values = set(classes) | set(labels.tolist())
    if current is not None and "label" in current:
        values |= set(pd.to_numeric(current["label"], errors="coerce").dropna().astype(int))
    values_list = sorted(int(v) for v in values)
    counts = np.array([(labels == c).sum() for c in values_list], dtype=float)
    means = pd.to_numeric(table["mean"], errors="coerce").dropna().to_numpy(dtype=float)
    hist = np.histogram(means, bins=INTENSITY_BINS)[0].astype(float)
    params: dict[str, Any] = {
        # Half a row added to every class, so a class the reference lacks gives a large but
        # finite divergence (GX allows no holdout weight for discrete partitions).
        "label_partition": (
            {"values": values_list, "weights": ((counts + 0.5) / (counts + 0.5).sum()).tolist()}
            if counts.sum()
            else None
        ),
        "intensity_partition": (
            {"bins": INTENSITY_BINS.tolist(), "weights": (hist / hist.sum()).tolist()}
            if hist.sum()
            else None
        ),
    }
    notes = {k: "the reference has no usable values" for k, v in params.items() if v is None}
    return params, notes
