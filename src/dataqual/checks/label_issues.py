"""Suspected label errors: confident learning (cleanlab) on out-of-fold predicted probabilities.

A fast model is fitted K times on the profile thumbnails (PCA-reduced) so that every row is
predicted by a model that never saw it; cleanlab's ``find_label_issues`` then flags rows whose
given label the model confidently contradicts, and ``get_label_quality_scores`` ranks every
row. Only the profile is read, never the full-resolution pixels.

The default model, ``class_knn``, is a class-conditional nearest-neighbour kernel: for each
class the ``neighbours`` closest training rows of that class, weighted by
``exp(-(d^2 - d0^2) / (2 (s d0)^2))`` where ``d0`` is the row's distance to its nearest
training row of any class. Its probabilities are continuous (no ties to rank, unlike a
vote), and the relative bandwidth ``s`` is chosen by out-of-fold log loss, because
cleanlab's per-class thresholds assume calibrated probabilities. Thumbnails are deskewed
first (the classic moment-based shear), reduced to 50 PCA components and split in 5 folds;
the neighbour search is exact (faiss, else scikit-learn). Its accuracy, flags and speed on
MNIST are in docs/quality.md.
``logistic`` (multinomial logistic regression) is the alternative, simpler and less accurate.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.checks.label_model import (
    MODELS,
    LabelIssuesSettings,
    deskew_thumbnails,
    out_of_fold_probabilities,
)
from dataqual.checks.registry import Analyser, register_analyser
from dataqual.profile import Profile

__all__ = [
    "MODELS",
    "QUEUE_COLUMNS",
    "LabelIssues",
    "LabelIssuesSettings",
    "deskew_thumbnails",
    "label_scores",
    "out_of_fold_probabilities",
]

log = logging.getLogger(__name__)

#: Columns of the ``label_issues`` review queue, in order.
QUEUE_COLUMNS = ("id", "split", "given_label", "suggested_label", "score", "rank")


def _skip_reason(codes: np.ndarray, n_classes: int, min_rows: int) -> str | None:
    if len(codes) < min_rows:
        return f"only {len(codes)} rows with a valid label (an audit needs {min_rows})"
    if n_classes < 2:
        return "fewer than two classes among the labelled rows"
    if np.bincount(codes).max() < 2:
        return "no class has two rows to split into folds"
    return None


@register_analyser
class LabelIssues(Analyser[LabelIssuesSettings]):
    """Adds ``label_issue`` (cleanlab flags the given label and its score is at most
    ``max_quality``), ``label_quality`` (cleanlab's label quality score, 0 = surely wrong,
    1 = surely right) and ``suggested_label`` (the model's most likely class), plus the
    ``label_issues`` review queue artefact: every row cleanlab flags and at least the
    ``queue_fraction`` lowest-scored rows, ranked by score.

    Rows with a missing label or one outside the declared classes, constant images and later
    copies of an exact duplicate are neither fitted nor scored (``label_issue`` False,
    ``label_quality`` NaN). A ``label_audit`` result reports the model, folds, out-of-fold
    accuracy and counts, or why the audit was skipped; a
    ``label_accuracy`` error fires when that accuracy is below ``min_oof_accuracy`` (labels
    that do not belong to their images).
    """

    name: ClassVar[str] = "label_issues"
    Settings = LabelIssuesSettings
    columns: ClassVar[tuple[str, ...]] = (
        "label_issue",
        "label_quality",
        "suggested_label",
        "relabel_to",
    )

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        s: LabelIssuesSettings = self.settings(context)
        started = time.perf_counter()
        df = profile.table
        n = len(df)
        labels = df["label"].astype("Int64").to_numpy(dtype=np.int64, na_value=-1)
        valid = _auditable(df, labels, np.asarray(context.spec.classes, dtype=np.int64))
        present = np.unique(labels[valid])
        codes = np.searchsorted(present, labels[valid])
        columns: dict[str, Any] = {
            "label_issue": np.zeros(n, bool),
            "label_quality": np.full(n, np.nan),
            "suggested_label": pd.array(np.full(n, None), dtype="Int64"),
            "relabel_to": pd.array(np.full(n, None), dtype="Int64"),
        }
        observed: dict[str, Any] = {
            "rows_scored": int(valid.sum()),
            "rows_excluded": int(n - valid.sum()),
        }
        reason = _skip_reason(codes, len(present), s.min_rows)
        if reason is not None:
            log.info("label audit skipped: %s", reason)
            return Analysis(columns=columns, results=_verdicts(context.stage, observed, s, reason))
        rows = np.flatnonzero(valid)
        probs, info = out_of_fold_probabilities(profile.thumbs[valid], codes, len(present), s)
        found, scores = _cleanlab(codes, probs, s)
        predicted = probs.argmax(axis=1)
        columns["label_issue"][rows] = found & (scores <= s.max_quality)
        columns["label_quality"][rows] = scores
        columns["suggested_label"][rows] = present[predicted]
        confident = columns["label_issue"][rows] & (predicted != codes)
        confident &= probs.max(axis=1) >= s.relabel_threshold
        columns["relabel_to"][rows[confident]] = present[predicted[confident]]
        queue = _review_queue(
            df.iloc[rows], labels[rows], present[predicted], scores, found, s.queue_fraction
        )
        observed |= {
            **info,
            "classes": present.tolist(),
            "oof_accuracy": round(float((predicted == codes).mean()), 5),
            "cleanlab_issues": int(found.sum()),
            "relabel_candidates": int(confident.sum()),
            **_issue_counts(df, columns["label_issue"]),
            "queue_rows": len(queue),
            "seconds": round(time.perf_counter() - started, 2),
        }
        log.info(
            "label audit: %d of %d rows flagged (out-of-fold accuracy %.4f) in %.1f s",
            observed["issues"],
            len(rows),
            observed["oof_accuracy"],
            observed["seconds"],
        )
        return Analysis(
            columns=columns,
            results=_verdicts(context.stage, observed, s),
            artefacts={"label_issues": queue},
        )


def label_scores(
    thumbs: np.ndarray, labels: np.ndarray, settings: LabelIssuesSettings
) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's label quality scores and issue mask of labelled thumbnails (every label
    valid), as the analyser computes them (benchmarks use it to time the models)."""
    present = np.unique(labels)
    codes = np.searchsorted(present, labels)
    probs, _ = out_of_fold_probabilities(thumbs, codes, len(present), settings)
    found, scores = _cleanlab(codes, probs, settings)
    return scores, found


def _verdicts(
    stage: str, observed: dict[str, Any], s: LabelIssuesSettings, skipped: str | None = None
) -> list[CheckResult]:
    """The ``label_audit`` report and the ``label_accuracy`` verdict."""
    return [
        _audit(stage, observed, skipped=skipped),
        _accuracy(stage, observed, s.min_oof_accuracy, skipped),
    ]


def _auditable(df: pd.DataFrame, labels: np.ndarray, declared: np.ndarray) -> np.ndarray:
    """Rows the audit fits and scores: a declared label, some contrast, not a later copy.

    Constant images carry no label information and later copies of an exact duplicate none
    beyond the first; both are removed by cleaning anyway. Leaving them out also bounds the
    audit on degenerate input (a million blank images: nothing to fit).
    """
    valid = (df["label"].notna().to_numpy()) & np.isin(labels, declared)
    if "std" in df:
        valid &= df["std"].to_numpy(dtype=np.float64, na_value=0.0) > 0
    if "duplicate_of" in df:
        valid &= df["duplicate_of"].isna().to_numpy()
    return valid


def _cleanlab(
    codes: np.ndarray, probs: np.ndarray, s: LabelIssuesSettings
) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's issue mask and label quality scores; its warnings go to the log."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    with warnings.catch_warnings(record=True) as caught:  # e.g. "too few examples in class"
        warnings.simplefilter("always")
        found = find_label_issues(
            codes, probs, filter_by=s.filter_by, frac_noise=s.frac_noise, n_jobs=1
        )
        scores = get_label_quality_scores(codes, probs, method=s.score_method)
    for warning in caught:
        log.info("cleanlab: %s", warning.message)
    return found, scores


def _issue_counts(df: pd.DataFrame, issue: np.ndarray) -> dict[str, Any]:
    splits = df["split"].astype("string").to_numpy(dtype=object)[issue]
    by_split = zip(*np.unique(splits, return_counts=True), strict=True)
    return {
        "issues": int(issue.sum()),
        "issues_by_split": {str(k): int(v) for k, v in by_split},
    }


def _review_queue(
    scored: pd.DataFrame,
    given: np.ndarray,
    suggested: np.ndarray,
    scores: np.ndarray,
    found: np.ndarray,
    fraction: float,
) -> pd.DataFrame:
    """Every flagged row and at least the ``fraction`` lowest-scored rows, most suspicious first."""
    order = np.argsort(scores, kind="stable")
    chosen = found.copy()
    chosen[order[: max(1, math.ceil(fraction * len(scores)))]] = True
    top = order[chosen[order]]
    return pd.DataFrame(
        {
            "id": scored["id"].astype("string").to_numpy()[top],
            "split": scored["split"].astype("string").to_numpy()[top],
            "given_label": given[top].astype(np.int64),
            "suggested_label": suggested[top].astype(np.int64),
            "score": scores[top].astype(np.float64),
            "rank": np.arange(1, len(top) + 1, dtype=np.int64),
        },
        columns=list(QUEUE_COLUMNS),
    )


def _audit(stage: str, observed: dict[str, Any], skipped: str | None = None) -> CheckResult:
    return CheckResult(
        name="label_audit",
        description="Out-of-fold label audit by confident learning (flags go to label_issue)",
        severity=Severity.WARNING,
        action=Action.NONE,
        success=True,
        stage=stage,
        element_count=int(observed.get("rows_scored", 0)),
        observed=observed,
        suite="label_issues",
        skipped=skipped,
    )


def _accuracy(
    stage: str, observed: dict[str, Any], floor: float, skipped: str | None = None
) -> CheckResult:
    """The dataset-level verdict on the labels: out-of-fold accuracy at least ``floor``."""
    accuracy = observed.get("oof_accuracy")
    return CheckResult(
        name="label_accuracy",
        description=f"Labels agree with the images: out-of-fold accuracy is at least {floor}",
        severity=Severity.ERROR,
        action=Action.NONE,
        success=skipped is not None or (accuracy is not None and accuracy >= floor),
        stage=stage,
        element_count=int(observed.get("rows_scored", 0)),
        observed={"oof_accuracy": accuracy, "min_oof_accuracy": floor},
        suite="label_issues",
        skipped=skipped,
    )
