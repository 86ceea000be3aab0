""" "Why the thresholds are where they are": each bound (from the settings) next to the clean
data's margin and the planted defects' recall (both measured)."""

from __future__ import annotations

from typing import Any

from quality.plant import BLANK_NOISE_SIGMA, CONTRAST_RANGE, COPY_NOISE_SIGMA
from quality.score import GOALS

__all__ = ["fmt", "threshold_notes"]


def fmt(value: Any) -> str:
    """A table cell: floats to 3 places, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _distance(value: float | None, under: dict[str, int]) -> str:
    """A smallest distance, or "over R" when no pair came within the largest radius R."""
    return str(value) if value is not None else f"over {max(float(r) for r in under):g}"


def _image_notes(s: dict[str, Any], rec: dict[str, str]) -> list[str]:
    c, t = s["clean"], s["thresholds"]
    near = t["near_max_distance"]
    under = c["near_pairs_under"].get(f"{near:g}", 0)
    lo, hi = CONTRAST_RANGE
    return [
        f"* **`blank_image`, std >= {t['blank_std_min']:g}.** The smallest pixel std in clean "
        f"MNIST is {c['std_min']}; an all-0 or constant image has std 0 and a constant plus "
        f"noise sigma {BLANK_NOISE_SIGMA:g} about {BLANK_NOISE_SIGMA:g}, so the bound sits "
        f"below the clean range and above the planted blanks (recall {rec['blank_image']}).",
        f"* **`inverted_image`, border mean <= {t['inverted_border_max']:g}.** Clean MNIST's "
        f"largest border mean is {c['border_mean_max']} (the border is background); an "
        f"inverted image's border is bright (recall {rec['inverted_image']}).",
        f"* **Pixel range and integrality ({t['pixel_low']}..{t['pixel_high']}), "
        f"`missing_pixels` (none).** Definitions, not tuned: clean MNIST spans "
        f"{c['pixel_min']}..{c['pixel_max']}; planted values above, below, fractional or "
        f"empty have recall {rec['pixel_max_in_range']}, {rec['pixel_min_in_range']}, "
        f"{rec['pixel_values_integral']}, {rec['missing_pixels']}.",
        f"* **`exact_duplicate`, `leakage` (content hash).** Clean MNIST has "
        f"{c['exact_duplicate_groups']} repeated images within a split, so any repeat is a "
        f"finding (recall {rec['exact_duplicate']} and {rec['leakage']}).",
        f"* **`near_duplicate`, `near_leakage`, distance <= {near:g} (leaks: "
        f"{t['near_leak_max_distance']:g}).** The closest distinct clean pair is "
        f"{_distance(c['near_distance_min_within'], c['near_pairs_under'])} within a split "
        f"and {_distance(c['near_distance_min_train_test'], c['near_pairs_under'])} "
        f"train-test, with {under} pairs under {near:g}; "
        f"copies with noise sigma {COPY_NOISE_SIGMA:g} or contrast x{lo}-{hi} have recall "
        f"{rec['near_duplicate']} and {rec['near_leakage']}.",
    ]


def _robust_note(s: dict[str, Any]) -> str:
    t = s["thresholds"]
    checks = t["robust_checks"]
    found = {k: v for k, v in s["clean"]["findings"].items() if k.split(" (")[0] in checks}
    return (
        f"* **{', '.join(f'`{c}`' for c in checks)} (robust bounds from the data: "
        f"{t['robust_rules']}).** They adapt to the dataset, so on clean MNIST they flag "
        "only its extremes: "
        + (", ".join(f"{k} {v}" for k, v in found.items()) or "nothing")
        + ". They are not part of the planted-defect goals."
    )


def _sweep_text(s: dict[str, Any]) -> str:
    """For each sweep setting, the smallest cap that meets the label-flip goal."""
    _, _, _, min_recall, min_precision = next(g for g in GOALS if g[1] == "label_flip")
    min_precision = min_precision or 0.0
    rows = s.get("sweep") or []
    text = ""
    for config in dict.fromkeys(r["settings"] for r in rows):
        label = "the suites' settings" if config == "suites" else f"`{config}`"
        good = [
            r
            for r in rows
            if r["settings"] == config
            and (r["recall"] or 0) >= min_recall
            and (r["precision"] or 0) >= min_precision
        ]
        goal = f"{min_recall:g}/{min_precision:g}"
        if not good:
            text += f" With {label} no cap reaches recall/precision {goal}."
            continue
        b = good[0]
        text += (
            f" With {label} the smallest cap reaching recall/precision {goal} is "
            f"{b['max_quality']:g} (recall {fmt(b['recall'])}, precision "
            f"{fmt(b['precision'])}; clean MNIST: {b.get('clean_flagged')} rows flagged)."
        )
    return text


def _label_note(s: dict[str, Any]) -> str:
    la = s["clean"]["label_audit"]
    lf = next(r for r in s["idx"]["scores"] if r["check"] == "label_issue")
    q, audit = s["idx"]["queue"], s["thresholds"]["audit"]
    share = la["issues"] / la["rows_scored"] if la.get("rows_scored") else 0.0
    return (
        f"* **`label_issue`: cleanlab's flag (filter_by {audit['filter_by']}, "
        f"{audit['neighbours']} neighbours) and label quality <= max_quality "
        f"({audit['max_quality']:g}).** On clean MNIST cleanlab flags "
        f"{la['cleanlab_issues']} rows and {la['issues']} pass the cap ({share:.2%}; "
        "Northcutt et al. confirmed ~0.15 % errors in MNIST's test set), as warnings only. "
        f"With {s['flip_fraction']:.0%} flips the flag has recall {fmt(lf['recall'])} and "
        f"precision {fmt(lf['precision'])}; the review queue's top k has precision "
        f"{fmt(q['top_k_precision'])} and recall {fmt(q['top_k_recall'])}. A stricter cap "
        "flags fewer clean rows but misses flips: the auto bandwidth of the kNN model widens "
        f"on noisy labels ({la['bandwidth']} on clean MNIST, "
        f"{s['idx']['label_audit'].get('bandwidth')} on the dirty data), which softens every "
        "probability (see the sweep above)." + _sweep_text(s)
    )


def threshold_notes(summary: dict[str, Any]) -> list[str]:
    """One bullet per threshold: the bound, the clean margin, the planted recall."""
    scores = summary["idx"]["scores"] + summary["csv"]["scores"]
    recall = {r["check"]: fmt(r["recall"]) for r in scores}
    return [*_image_notes(summary, recall), _robust_note(summary), _label_note(summary)]
