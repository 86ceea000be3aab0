"""GX expectation results as dataqual :class:`~dataqual.checks.base.CheckResult` objects."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dataqual.checks.base import CheckResult
from dataqual.validate.suites import ExpectationMeta, Suite

__all__ = ["NONE_UNEXPECTED", "check_result", "needs_rows", "skipped_result"]


def _fields(meta: ExpectationMeta, suite: Suite, stage: str, split: str | None) -> dict[str, Any]:
    """The fields every result of one expectation shares."""
    return {
        "name": meta.check,
        "description": meta.description,
        "severity": meta.severity,
        "action": meta.action,
        "repair": meta.repair,
        "split": split,
        "stage": stage,
        "suite": suite.name,
        "engine": "gx",
    }


def skipped_result(
    meta: ExpectationMeta, suite: Suite, stage: str, split: str | None, why: str
) -> CheckResult:
    """The result of an expectation that could not run (a parameter nobody declared)."""
    return CheckResult(**_fields(meta, suite, stage, split), success=True, skipped=why)


#: The result of a map expectation that passed with no unexpected value, as COMPLETE gives it.
NONE_UNEXPECTED: dict[str, Any] = {
    "unexpected_count": 0,
    "unexpected_percent": 0.0,
    "unexpected_list": [],
    "unexpected_index_list": [],
}


def needs_rows(res: Any, document: dict[str, Any], pass_fail: bool) -> bool:
    """Whether a first-pass GX result must be run again for its failing rows: it failed (a
    pass/fail result), may have passed with unexpected values (``mostly``), or counted
    unexpected values (a result with counts)."""
    if pass_fail:
        return not res.success or document["kwargs"].get("mostly") is not None
    result = res.result or {}
    return "unexpected_count" in result and result["unexpected_count"] != 0


def check_result(
    res: Any,
    result: dict[str, Any],
    meta: ExpectationMeta,
    suite: Suite,
    *,
    stage: str,
    split: str | None,
    table: pd.DataFrame,
) -> CheckResult:
    """Our result of one GX expectation result ``res`` whose result dict (true, unescaped
    values) is ``result``.

    Failing rows come back as index labels of ``table`` (its row numbers), mapped to its
    ``id`` column. A map expectation's result has ``unexpected_count``: a COMPLETE one
    (with row lists), or :data:`NONE_UNEXPECTED` for one that passed with none.
    """
    ids = np.array([], dtype=str)
    details = np.array([], dtype=str)
    observed: dict[str, Any] = {}
    if "unexpected_count" in result:
        rows = table.index.get_indexer(result.get("unexpected_index_list") or [])
        if len(rows):
            ids = table["id"].take(rows).to_numpy(dtype=object).astype(str)
        column = res.expectation_config.kwargs.get("column", "")
        values = result.get("unexpected_list") or []
        if len(values) != len(rows) and column in table.columns:
            values = table[column].take(rows).tolist()  # GX caps the list; the index is whole
        details = np.char.add(f"{column}=", np.array([str(v) for v in values], dtype=str))
        observed["unexpected_count"] = int(result.get("unexpected_count", len(ids)))
        observed["unexpected_percent"] = float(result.get("unexpected_percent") or 0.0)
    else:
        observed["observed_value"] = result.get("observed_value")
        details_obj = result.get("details")
        if details_obj:
            observed["details"] = str(details_obj)
    if res.exception_info and res.exception_info.get("raised_exception"):
        observed["exception"] = res.exception_info.get("exception_message")
    return CheckResult(
        **_fields(meta, suite, stage, split),
        success=bool(res.success),
        ids=ids,
        details=details,
        element_count=len(table),
        observed=observed,
    )
