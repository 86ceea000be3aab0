"""A cleaning plan as one Parquet file, so stages in other processes can exchange it.

One row per plan row: ``id``, ``remove``, ``repair``, one bool column ``repair:<name>`` per
pixel repair (their order is in the schema metadata), and for removed rows ``reasons`` and
``details`` (list<string>, null elsewhere) with their positions in the plan's series
(``reasons_rank``, ``details_rank``). No pickle: the file is plain Arrow data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataqual.clean.plan import CleaningPlan, reasons_series
from dataqual.errors import FormatError, SourceError
from dataqual.files import atomic_path

__all__ = ["PLAN_FORMAT", "load_plan", "save_plan"]

#: Schema metadata key and value naming a plan file.
PLAN_FORMAT = "dataqual.cleaning_plan/1"
_META_KEY = b"dataqual"
_REPAIR_PREFIX = "repair:"


def _aligned(plan: CleaningPlan, series: pd.Series) -> tuple[pa.Array, pa.Array]:
    """``series`` (id -> list of str) as plan-aligned list and rank columns."""
    rows = plan.ids.get_indexer(series.index)
    if (rows < 0).any():
        raise ValueError(f"{series.name} holds ids that are not in the plan")
    values: list[list[str] | None] = [None] * len(plan.ids)
    ranks: list[int | None] = [None] * len(plan.ids)
    for rank, (row, value) in enumerate(zip(rows.tolist(), series.tolist(), strict=True)):
        values[row], ranks[row] = list(value), rank
    return pa.array(values, pa.list_(pa.string())), pa.array(ranks, pa.int64())


def save_plan(plan: CleaningPlan, path: str | Path) -> Path:
    """Write ``plan`` to ``path`` (atomically) and return the path."""
    path = Path(path)
    ids = pa.array(plan.ids.tolist()) if len(plan.ids) else pa.array([], pa.string())
    columns: dict[str, pa.Array] = {
        "id": ids,
        "remove": pa.array(plan.remove, pa.bool_()),
        "repair": pa.array(plan.repair, pa.bool_()),
    }
    for name, mask in plan.repairs.items():
        columns[_REPAIR_PREFIX + name] = pa.array(mask, pa.bool_())
    for name in ("reasons", "details"):
        columns[name], columns[f"{name}_rank"] = _aligned(plan, getattr(plan, name))
    meta = {"format": PLAN_FORMAT, "repairs": list(plan.repairs)}
    table = pa.table(columns).replace_schema_metadata({_META_KEY: json.dumps(meta)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def _series(table: pa.Table, ids: list[object], name: str) -> pd.Series:
    ranks = table.column(f"{name}_rank").to_numpy(zero_copy_only=False)
    present = np.flatnonzero(~np.isnan(ranks.astype(np.float64)))
    order = present[np.argsort(ranks[present], kind="stable")]
    values = table.column(name).to_pylist()
    return reasons_series([ids[i] for i in order], [values[i] for i in order], name)


def load_plan(path: str | Path) -> CleaningPlan:
    """Read a plan written by :func:`save_plan`."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise SourceError(path, "cleaning plan not found") from None
    except (OSError, pa.ArrowException) as exc:
        raise FormatError(path, f"not a Parquet file: {exc}") from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    meta = json.loads(raw) if raw else {}
    if meta.get("format") != PLAN_FORMAT:
        raise FormatError(path, f"not a cleaning plan (expected format {PLAN_FORMAT})")
    ids = table.column("id").to_pylist()

    def mask(column: str) -> np.ndarray:
        return table.column(column).to_numpy(zero_copy_only=False).astype(bool)

    return CleaningPlan(
        ids=pd.Index(ids, dtype=object),
        remove=mask("remove"),
        repair=mask("repair"),
        repairs={name: mask(_REPAIR_PREFIX + name) for name in meta["repairs"]},
        reasons=_series(table, ids, "reasons"),
        details=_series(table, ids, "details"),
    )
