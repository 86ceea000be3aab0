"""docs/quality.md from a benchmark summary: every figure and bound in the text comes from
the summary (measured figures, and the settings :mod:`quality.settings` read)."""

from __future__ import annotations

from typing import Any

from quality.notes import fmt, threshold_notes
from quality.plant import CSV_KINDS, IDX_KINDS
from quality.score import LABEL_AUDIT_BUDGET, targeted_by

__all__ = ["markdown", "table"]

_SCORE_COLUMNS = [
    "kind",
    "check",
    "planted",
    "found",
    "recall",
    "flagged",
    "false_clean",
    "collateral",
    "precision",
    "precision_vs_clean",
]
_SWEEP_COLUMNS = [
    "settings",
    "max_quality",
    "flagged",
    "found",
    "recall",
    "precision",
    "precision_vs_clean",
    "clean_flagged",
]


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table of ``rows`` (dicts) with the given columns."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _target(goal: dict[str, Any]) -> str:
    text = f"recall >= {goal['min_recall']:g}"
    if goal["min_precision"] is not None:
        text += f", precision >= {goal['min_precision']:g}"
    return text


def _intro(s: dict[str, Any]) -> list[str]:
    m = s["machine"]
    return [
        "# Detection quality on MNIST with planted defects",
        "",
        f"Measured by `{s['command']}` (real MNIST, {s['per_kind']} rows per planted kind, "
        f"label flips in {s['flip_fraction']:.0%} of train and test rows, suites: "
        f"{s['suites']}, no training). Figures come from the raw-stage `findings.parquet`. "
        "`recall` = planted rows the check flags / planted rows; `precision` = flagged rows "
        "of the kinds the check targets / all rows it flags; `false_clean` = untouched rows "
        "it flags; `collateral` = rows of *other* planted kinds it flags (e.g. one blank is "
        "an exact duplicate of another), which `precision_vs_clean` leaves out.",
        "",
        f"Machine: {m['cpus']} CPUs, {m['platform']}; load average {m['load_before']} before, "
        f"{m['load_after']} after (a shared machine: timings are medians of {s['repeats']} "
        "clean run(s) and vary with load).",
        "",
        "## Goals",
        "",
        table(
            [{**g, "target": _target(g)} for g in s["goals"]],
            ["goal", "check", "target", "recall", "precision", "precision_vs_clean", "met"],
        ),
        "",
    ]


def _collateral_text(matrix: dict[str, dict[str, int]], kinds: dict[str, list[str]]) -> str:
    """E.g. "`exact_duplicate`: 75 blank" for each scored check that flags other planted kinds."""
    parts = []
    scored = {c for checks in kinds.values() for c in checks}
    for check, counts in matrix.items():
        own = ("clean", *targeted_by(check, kinds))
        other = {k: n for k, n in counts.items() if k not in own}
        if check in scored and other:
            parts.append(f"`{check}`: " + ", ".join(f"{n} {k}" for k, n in other.items()))
    return "; ".join(parts) or "none"


def _planted(s: dict[str, Any]) -> list[str]:
    border = s["thresholds"]["inverted_border_max"]
    return [
        f"## Planted defects in IDX ({s['idx']['rows']:,} rows)",
        "",
        table(s["idx"]["scores"], _SCORE_COLUMNS),
        "",
        "Collateral (rows of other planted kinds a check also flags): "
        + _collateral_text(s["idx"]["collateral"], IDX_KINDS)
        + ". Identical all-0 or constant blanks are exact or near copies of one another, "
        f"constant blanks brighter than {border:g} have a bright border, and a blank's "
        "label is arbitrary: these flags are right, only not the planted kind being scored.",
        "",
        f"## Planted pixel defects in CSV ({s['csv']['rows']:,} rows: test + first "
        f"{s['csv']['train_rows']:,} train)",
        "",
        table(s["csv"]["scores"], _SCORE_COLUMNS),
        "",
        "### Recall by variant",
        "",
        table(
            s["idx"]["variants"] + s["csv"]["variants"],
            ["kind", "variant", "check", "planted", "found", "recall"],
        ),
        "",
    ]


def _labels(s: dict[str, Any]) -> list[str]:
    lf = next(r for r in s["idx"]["scores"] if r["kind"] == "label_flip")
    q = s["idx"]["queue"]
    parts = [
        "### Label flips: findings and the review queue",
        "",
        f"`label_issue` flags {lf['found']} of {lf['planted']} flips (recall "
        f"{fmt(lf['recall'])}), precision {fmt(lf['precision'])} "
        f"({fmt(lf['precision_vs_clean'])} against untouched rows only). The review queue "
        f"`label_issues.parquet` holds {q['queue_rows']} rows and {fmt(q['recall_in_queue'])} "
        f"of the flips; its top {q['top_k']} (k = flips) have precision "
        f"{fmt(q['top_k_precision'])} and recall {fmt(q['top_k_recall'])}.",
        "",
        table(s["idx"]["label_by_split"], ["split", "planted", "found", "recall"]),
        "",
    ]
    if s.get("sweep"):
        parts += [
            "### Label audit settings sweep",
            "",
            "The analyser called on the raw profiles with the suites' settings (and, where "
            "named, the changes listed) and each `max_quality` cap; the same seed, folds and "
            "scores as the pipeline's audit. `found`/`recall`/`precision` on the dirty data, "
            "`clean_flagged` = rows flagged on clean MNIST.",
            "",
            table(
                [{**r, "max_quality": f"{r['max_quality']:g}"} for r in s["sweep"]], _SWEEP_COLUMNS
            ),
            "",
        ]
    return parts


def _matrices(s: dict[str, Any]) -> list[str]:
    parts = []
    for run, kinds in (("idx", [*IDX_KINDS, "clean"]), ("csv", [*CSV_KINDS, "clean"])):
        matrix = s[run]["collateral"]
        rows = [{"check": k, **{kd: v.get(kd, "") for kd in kinds}} for k, v in matrix.items()]
        parts += [
            f"### Every check's flags by planted kind ({run.upper()} run)",
            "",
            table(rows, ["check", *kinds]),
            "",
        ]
    return parts


def _clean(s: dict[str, Any]) -> list[str]:
    c = s["clean"]
    la = c["label_audit"]
    return [
        "## Clean MNIST",
        "",
        table(
            [{"check (split)": k, "rows": v} for k, v in c["findings"].items()],
            ["check (split)", "rows"],
        ),
        "",
        f"Label audit: out-of-fold accuracy {la['oof_accuracy']}, bandwidth {la['bandwidth']}, "
        f"cleanlab flags {la['cleanlab_issues']}, {la['issues']} pass the cap. Top of the "
        "review queue:",
        "",
        table(
            [{**r, "score": f"{r['score']:.1e}"} for r in c["label_issue_top_ids"]],
            ["id", "given_label", "suggested_label", "score"],
        ),
        "",
        "Near duplicates flagged: "
        + (", ".join(c["near_duplicate_top_ids"]) or "none")
        + ". "
        + _near_text(c),
        "",
    ]


def _near_text(c: dict[str, Any]) -> str:
    """The closest distinct pairs of the clean data and how many fall under each radius."""
    under = c["near_pairs_under"]
    counts = f"pairs under {' / '.join(under)}: {' / '.join(str(v) for v in under.values())}."
    if not c["closest_pairs"]:
        farthest = max(float(r) for r in under)
        return f"No two distinct images are within distance {farthest:g}; " + counts
    pairs = ", ".join(f"{p['a']}–{p['b']} ({p['distance']})" for p in c["closest_pairs"])
    return (
        f"Closest distinct pairs: {pairs}. Smallest thumbnail distance between distinct "
        f"images: {c['near_distance_min_within']} within a split, "
        f"{c['near_distance_min_train_test']} train-test; " + counts
    )


def _timings(s: dict[str, Any]) -> list[str]:
    t = s["timings"]
    idx, csv = s["idx"]["seconds"], s["csv"]["seconds"]
    budget, budget_rows = LABEL_AUDIT_BUDGET
    stages = [
        {"stage": "label audit (inside validate-raw)" if k == "label_audit" else k, "seconds": v}
        for k, v in t["stages"].items()
    ]
    analysers = [{"analyser": k, "seconds": v} for k, v in t["analysers"].items()]
    return [
        f"## Timings (clean MNIST, {s['clean']['rows']:,} rows)",
        "",
        table([{**r, "seconds": round(r["seconds"], 2)} for r in stages], ["stage", "seconds"]),
        "",
        table(
            [{**r, "seconds": round(r["seconds"], 2)} for r in analysers], ["analyser", "seconds"]
        ),
        "",
        f"The label audit takes {t['stages'].get('label_audit', float('nan')):.1f} s in the "
        f"pipeline (budget: {budget:g} s for {budget_rows:,} rows on 2 cores). On the dirty "
        f"data: {idx.get('total', float('nan')):.1f} s in all, label audit "
        f"{idx.get('label_audit', float('nan')):.1f} s; CSV run ({s['csv']['rows']:,} rows) "
        f"{csv.get('total', float('nan')):.1f} s.",
        "",
    ]


def markdown(summary: dict[str, Any]) -> str:
    """docs/quality.md: the figures, then why each threshold is where it is."""
    parts = [
        *_intro(summary),
        *_planted(summary),
        *_labels(summary),
        *_matrices(summary),
        *_clean(summary),
        *_timings(summary),
        "## Why the thresholds are where they are",
        "",
        *threshold_notes(summary),
    ]
    return "\n".join(parts) + "\n"
