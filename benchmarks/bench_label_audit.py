"""Benchmark: time and quality of each label-audit model on MNIST with 5 % planted flips.

(``--fraction 0.2`` plants 20 % instead: the heavy-noise case of bench_outcome's ``noise20``.)

Reads MNIST (70k rows) with dataqual's reader, makes the profile's 14x14 thumbnails, flips
5 % of the labels of each split to another class (seed fixed), and runs the label audit's
out-of-fold model per split (as the pipeline does: the suite's scope is ``split``). For each
model it prints the audit's seconds (the model and cleanlab's scores, both splits), the
average precision of ``1 - label quality`` against the planted flips, and the precision at
k (k = planted flips) of the queue ordered by score, and the recall and precision of the
rows the audit flags, all in one run so the ratios are fair.

    python benchmarks/bench_label_audit.py [--models knn,knn:pca_components=30,mlp,ensemble]
        [--repeats 3] [--rows N] [--source ../shared/datasets/mnist] [--doc docs/quality.md]

With ``--doc`` the table replaces the section between the ``label-audit-models`` markers of
that file (appended when absent).

A model may carry setting overrides after a colon (``knn:pca_components=30,folds=3`` is not
valid: separate overrides with ``+``, as in ``knn:pca_components=30+folds=3``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def _planted(source: Path, rows: int | None, fraction: float, seed: int) -> dict:
    from dataqual.profile_pixels import thumbnails
    from quality.plant import load_source

    rng = np.random.default_rng(seed)
    out = {}
    for split, (images, labels) in load_source(source, rows).items():
        n = len(labels)
        flip = rng.choice(n, round(fraction * n), replace=False)
        noisy = labels.copy()
        noisy[flip] = (labels[flip] + rng.integers(1, 10, len(flip))) % 10
        truth = np.zeros(n, bool)
        truth[flip] = True
        out[split] = (thumbnails(images), noisy, truth)
    return out


def _audit(data: dict, model: str, extra: dict) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Seconds, label quality scores, planted-flip truth and cleanlab's issue mask (the
    rows the audit flags) of both splits."""
    from dataqual.checks.label_issues import LabelIssuesSettings, label_scores

    settings = LabelIssuesSettings(model=model, **extra)
    started = time.perf_counter()
    scores, truths, found = [], [], []
    for thumbs, labels, truth in data.values():
        score, issues = label_scores(thumbs, labels, settings)
        scores.append(score)
        found.append(issues)
        truths.append(truth)
    seconds = time.perf_counter() - started
    return seconds, np.concatenate(scores), np.concatenate(truths), np.concatenate(found)


def _variant(text: str) -> tuple[str, dict]:
    """``model[:key=value+key=value]`` -> (model, overrides)."""
    model, _, rest = text.partition(":")
    extra = {}
    for item in filter(None, rest.split("+")):
        key, _, value = item.partition("=")
        extra[key] = json.loads(value)
    return model, extra


MARK = "<!-- label-audit-models -->"


def _write_doc(doc: Path, results: list[dict], command: str) -> None:
    """The results as a markdown table between two :data:`MARK` lines of ``doc``."""
    lines = [
        MARK,
        "## Label-audit models (70,000 rows, 5 % planted flips)",
        "",
        f"Measured by `{command}` in one run (a shared 2-core machine: compare the seconds of",
        "one run only). `AP`: average precision of `1 - label quality` against the planted",
        "flips; `P@k`: share of planted flips among the k lowest-scored rows (k = flips).",
        "",
        "| model | seconds | AP | P@k | k |",
        "|---|---|---|---|---|",
        *(
            f"| {r['model']} | {r['seconds']} | {r['average_precision']} | "
            f"{r['precision_at_k']} | {r['k']} |"
            for r in results
        ),
        MARK,
    ]
    text = doc.read_text() if doc.is_file() else ""
    head, _, rest = text.partition(MARK)
    tail = rest.partition(MARK)[2] if rest else ""
    doc.write_text(head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" + tail.lstrip("\n"))


def main(argv: list[str] | None = None) -> None:
    from sklearn.metrics import average_precision_score

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=REPO.parent / "shared/datasets/mnist")
    p.add_argument("--models", default="knn,knn:pca_components=30,mlp,ensemble")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fraction", type=float, default=0.05, help="planted flips per split")
    p.add_argument("--doc", type=Path, default=None, help="write the table into this file")
    argv = sys.argv[1:] if argv is None else argv
    args = p.parse_args(argv)
    data = _planted(args.source, args.rows, args.fraction, args.seed)
    runs = [_variant(m) for m in args.models.split(",")]
    results = []
    for model, extra in runs:
        times = []
        for _ in range(args.repeats):
            seconds, scores, truth, flagged = _audit(data, model, extra)
            times.append(seconds)
        k, hits = int(truth.sum()), int((flagged & truth).sum())
        top = np.argsort(scores, kind="stable")[:k]
        results.append(
            {
                "model": model + "".join(f" {k}={v}" for k, v in extra.items()),
                "seconds": round(statistics.median(times), 2),
                "average_precision": round(float(average_precision_score(truth, 1 - scores)), 4),
                "precision_at_k": round(float(truth[top].mean()), 4),
                "k": k,
                "flagged": int(flagged.sum()),
                "flag_recall": round(hits / max(k, 1), 4),
                "flag_precision": round(hits / max(int(flagged.sum()), 1), 4),
            }
        )
        print(json.dumps(results[-1]), flush=True)
    if args.doc:
        _write_doc(args.doc, results, " ".join(["python benchmarks/bench_label_audit.py", *argv]))


if __name__ == "__main__":
    main()
