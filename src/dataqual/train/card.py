"""The model card: ``card.json`` and ``card.md`` beside the trained model.

It records what the model was trained on (the data version: the manifest's dataset,
source and schema, and the manifest file's sha256, which pins every shard's checksum),
whether that data passed validation, the training settings, the metrics, the accuracy
of each class, and the known limitations: what the model was and was not tested on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dataqual.files import atomic_path, sha256_file, write_json
from dataqual.store.manifest import Manifest

__all__ = ["CARD_JSON", "CARD_MD", "model_card", "render_card", "write_model_card"]

CARD_JSON = "card.json"
CARD_MD = "card.md"

#: The metrics of ``metrics.json`` the card shows (the long lists stay in metrics.json).
_METRICS = (
    "test_accuracy",
    "epochs",
    "train_rows",
    "test_rows",
    "final_train_loss",
    "final_train_accuracy",
    "train_seconds",
    "images_per_second",
    "backend",
    "device",
    "input_pipeline",
    "forced",
    "resumed_from_epoch",
)


def model_card(
    *,
    metrics: Mapping[str, Any],
    manifest_path: Path,
    validation_status: str,
    config: BaseModel | Mapping[str, Any],
    exports: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The card's content (the object of ``card.json``)."""
    manifest = Manifest.load(manifest_path)
    path = Path(manifest_path)
    path = path / "manifest.json" if path.is_dir() else path
    settings = config.model_dump(mode="json") if isinstance(config, BaseModel) else dict(config)
    lineage = manifest.lineage
    data = {
        "dataset": lineage.dataset,
        "source": lineage.source,
        "format": lineage.format,
        "schema_version": manifest.schema_version,
        "manifest": path.name,
        "manifest_sha256": sha256_file(path),
        "image_shape": [manifest.height, manifest.width],
        "splits": {name: split.rows for name, split in manifest.splits.items()},
        "shards": len(manifest.shards),
        "dataqual_version": lineage.dataqual_version,
        "git_commit": lineage.git_commit,
    }
    return {
        "data": data,
        "validation_status": validation_status,
        "training": settings,
        "metrics": {k: metrics[k] for k in _METRICS if k in metrics},
        "per_class_accuracy": dict(metrics.get("per_class_accuracy") or {}),
        "exports": dict(exports or {}),
        "limitations": _limitations(metrics, data, validation_status, settings),
    }


def _limitations(
    metrics: Mapping[str, Any], data: dict[str, Any], status: str, settings: dict[str, Any]
) -> list[str]:
    """What the model was and was not tested on, in sentences."""
    rows = int(metrics.get("test_rows") or 0)
    eval_split = settings.get("eval_split", "test")
    height, width = data["image_shape"]
    found = [
        f"Evaluated only on the {eval_split!r} split of {data['dataset'] or 'this dataset'} "
        f"({rows} rows of {height}x{width} grayscale images); not tested on images from other "
        "sources, of other sizes, in colour, or from a shifted distribution.",
        "Accuracy is measured against the given labels: a wrong label in the eval split "
        "counts as a model error, and wrong labels in the train split were learnt from "
        "unless label cleaning removed or relabelled them.",
        "Not tested for calibration, robustness to corrupted or adversarial input, or "
        "fairness across subgroups.",
    ]
    accuracy = metrics.get("test_accuracy")
    if accuracy is not None and rows:
        margin = 1.96 * math.sqrt(max(accuracy * (1 - accuracy), 1 / rows) / rows)
        found.append(
            f"Test accuracy {accuracy:.2%} is an estimate from {rows} rows: about "
            f"±{margin:.2%} (95%)."
        )
    per_class = metrics.get("per_class_accuracy") or {}
    if per_class:
        worst = min(per_class, key=lambda c: per_class[c])
        found.append(f"Weakest class: {worst}, {per_class[worst]:.2%} correct.")
    if status != "passed":
        found.append(
            f"The data's validation status is {status!r}: the model was trained on data "
            "that did not pass validation (training was forced)."
        )
    return found


def _table(rows: Mapping[str, Any], head: tuple[str, str]) -> list[str]:
    lines = [f"| {head[0]} | {head[1]} |", "| --- | --- |"]
    return lines + [f"| {k} | {_cell(v)} |" for k, v in rows.items()]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value).replace("|", "\\|")


def render_card(card: Mapping[str, Any]) -> str:
    """``card.md``: the card as Markdown, one section per part."""
    data = card["data"]
    per_class = {k: f"{v:.2%}" for k, v in card["per_class_accuracy"].items()}
    lines = [
        "# Model card",
        "",
        "## Data",
        "",
        *_table({k: v for k, v in data.items() if k != "splits"}, ("field", "value")),
        "",
        "Rows per split: " + ", ".join(f"{k} {v}" for k, v in data["splits"].items()),
        "",
        "## Validation",
        "",
        f"Validation status: **{card['validation_status']}**",
        "",
        "## Training settings",
        "",
        *_table(card["training"], ("setting", "value")),
        "",
        "## Metrics",
        "",
        *_table(card["metrics"], ("metric", "value")),
        "",
        "## Per-class accuracy",
        "",
        *_table(per_class, ("class", "accuracy")),
        "",
        "## Exports",
        "",
        *_table(card["exports"], ("kind", "path")),
        "",
        "## Known limitations",
        "",
        *[f"- {line}" for line in card["limitations"]],
    ]
    return "\n".join(lines) + "\n"


def write_model_card(
    out_dir: Path,
    *,
    metrics: Mapping[str, Any],
    manifest_path: Path,
    validation_status: str,
    config: BaseModel | Mapping[str, Any],
    exports: Mapping[str, str] | None = None,
) -> tuple[Path, Path]:
    """Write ``out_dir/card.json`` and ``out_dir/card.md`` (atomically); returns them."""
    card = model_card(
        metrics=metrics,
        manifest_path=manifest_path,
        validation_status=validation_status,
        config=config,
        exports=exports,
    )
    json_path = write_json(Path(out_dir) / CARD_JSON, card)
    md_path = Path(out_dir) / CARD_MD
    with atomic_path(md_path) as tmp:
        tmp.write_text(render_card(card))
    return json_path, md_path
