"""Precision and recall of each check against the planted truth.

``precision`` counts every flagged row that is not of a kind the check targets as false;
``precision_vs_clean`` counts only untouched rows as false (rows of other planted kinds,
e.g. a blank also flagged as a duplicate of another blank, are collateral and left out).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = [
    "GOALS",
    "LABEL_AUDIT_BUDGET",
    "by_variant",
    "collateral_matrix",
    "goals",
    "label_by_split",
    "queue_scores",
    "ratio",
    "score",
    "sweep",
    "targeted_by",
]

Kinds = dict[str, list[str]]

#: The label audit's time budget: (seconds, rows) on 2 cores.
LABEL_AUDIT_BUDGET = (60.0, 70_000)
#: (goal, kind, check, minimum recall, minimum precision): the benchmark's targets.
GOALS: tuple[tuple[str, str, str, float, float | None], ...] = (
    ("blanks found", "blank", "blank_image", 1.0, None),
    ("inversions found", "inverted", "inverted_image", 1.0, None),
    ("values > 255 found", "above_255", "pixel_max_in_range", 1.0, None),
    ("negative values found", "negative", "pixel_min_in_range", 1.0, None),
    ("fractional values found", "fractional", "pixel_values_integral", 1.0, None),
    ("missing pixels found", "missing", "missing_pixels", 1.0, None),
    ("exact duplicates found", "exact_duplicate", "exact_duplicate", 1.0, None),
    ("exact leaks found", "exact_leak", "leakage", 1.0, None),
    ("near leaks found", "near_leak", "near_leakage", 1.0, None),
    ("label flips found", "label_flip", "label_issue", 0.9, 0.9),
)


def ratio(a: int, b: int) -> float | None:
    """``a / b`` to 4 places, None when ``b`` is 0."""
    return round(a / b, 4) if b else None


def targeted_by(check: str, kinds: Kinds) -> list[str]:
    """The planted kinds a check counts as finding."""
    return [k for k, checks in kinds.items() if check in checks]


def score(findings: pd.DataFrame, truth: pd.DataFrame, kinds: Kinds) -> list[dict[str, Any]]:
    """Recall of each (kind, check) and precision of each check."""
    planted = set(truth["id"])
    flagged = {c: set(g["id"]) for c, g in findings.groupby("check")}
    rows = []
    for kind, checks in kinds.items():
        ids = set(truth.loc[truth["kind"] == kind, "id"])
        for check in checks:
            targets = set(truth.loc[truth["kind"].isin(targeted_by(check, kinds)), "id"])
            hit = flagged.get(check, set())
            tp, false_clean = len(hit & targets), len(hit - planted)
            rows.append(
                {
                    "kind": kind,
                    "check": check,
                    "planted": len(ids),
                    "found": len(hit & ids),
                    "recall": ratio(len(hit & ids), len(ids)),
                    "flagged": len(hit),
                    "false_clean": false_clean,
                    "collateral": len((hit & planted) - targets),
                    "precision": ratio(tp, len(hit)),
                    "precision_vs_clean": ratio(tp, tp + false_clean),
                }
            )
    return rows


def by_variant(findings: pd.DataFrame, truth: pd.DataFrame, kinds: Kinds) -> list[dict[str, Any]]:
    """Recall of each kind's own check per variant (e.g. blank: all 0 / constant / noisy)."""
    out = []
    for (kind, variant), g in truth.groupby(["kind", "variant"]):
        check = kinds[kind][0]
        found = int(g["id"].isin(set(findings.loc[findings["check"] == check, "id"])).sum())
        out.append(
            {
                "kind": kind,
                "variant": variant,
                "check": check,
                "planted": len(g),
                "found": found,
                "recall": ratio(found, len(g)),
            }
        )
    return out


def collateral_matrix(findings: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict[str, int]]:
    """check -> {planted kind or 'clean': rows flagged}."""
    kind = findings["id"].map(truth.set_index("id")["kind"]).fillna("clean")
    table = pd.crosstab(findings["check"], kind)
    return {c: {k: int(v) for k, v in r.items() if v} for c, r in table.iterrows()}


def label_by_split(findings: pd.DataFrame, truth: pd.DataFrame) -> list[dict[str, Any]]:
    """Label flips found per split (the flips' variant is their split)."""
    hits = set(findings.loc[findings["check"] == "label_issue", "id"])
    flips = truth[truth["kind"] == "label_flip"]
    out = []
    for split, g in flips.groupby("variant"):
        found = int(g["id"].isin(hits).sum())
        out.append(
            {"split": split, "planted": len(g), "found": found, "recall": ratio(found, len(g))}
        )
    return out


def queue_scores(queue: pd.DataFrame, flips: set[str]) -> dict[str, Any]:
    """The review queue against the flips: recall of the whole queue and of its top k."""
    k = len(flips)
    top = set(queue.nsmallest(k, "rank")["id"])
    return {
        "queue_rows": len(queue),
        "flips": k,
        "recall_in_queue": ratio(len(flips & set(queue["id"])), k),
        "top_k": k,
        "top_k_rows": len(top),
        "top_k_precision": ratio(len(top & flips), len(top)),
        "top_k_recall": ratio(len(top & flips), k),
    }


def sweep(
    dirty: pd.DataFrame,
    clean: pd.DataFrame | None,
    truth: pd.DataFrame,
    caps: tuple[float, ...],
    config: str = "suites",
) -> list[dict[str, Any]]:
    """Label-flip precision/recall (dirty run) and rows flagged (clean run) per cap."""
    flips = set(truth.loc[truth["kind"] == "label_flip", "id"])
    planted = set(truth["id"])
    out = []
    for cap in caps:
        hit = set(dirty.loc[dirty["found"] & (dirty["quality"] <= cap), "id"])
        tp, false_clean = len(hit & flips), len(hit - planted)
        row: dict[str, Any] = {
            "settings": config,
            "max_quality": cap,
            "flagged": len(hit),
            "found": tp,
            "recall": ratio(tp, len(flips)),
            "precision": ratio(tp, len(hit)),
            "precision_vs_clean": ratio(tp, tp + false_clean),
        }
        if clean is not None:
            row["clean_flagged"] = int((clean["found"] & (clean["quality"] <= cap)).sum())
        out.append(row)
    return out


def goals(scores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal of :data:`GOALS` with the measured recall/precision and whether it is met."""
    by = {(r["kind"], r["check"]): r for r in scores}
    out = []
    for goal, kind, check, min_recall, min_precision in GOALS:
        r = by[(kind, check)]
        met = (r["recall"] or 0) >= min_recall and (
            min_precision is None or (r["precision"] or 0) >= min_precision
        )
        out.append(
            {
                "goal": goal,
                "check": check,
                "recall": r["recall"],
                "precision": r["precision"],
                "precision_vs_clean": r["precision_vs_clean"],
                "met": "yes" if met else "NO",
                "min_recall": min_recall,
                "min_precision": min_precision,
            }
        )
    return out
