"""The Great Expectations adapter: runs our suites on profile tables and builds Data Docs.

Everything GX-specific lives here, so the rest of dataqual sees only
:class:`~dataqual.checks.base.CheckResult`. One ephemeral GX context per pipeline run holds
every validation (raw and cleaned, each split), and Data Docs are built once at the end.
"""

from __future__ import annotations

import copy
import html
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dataqual.checks.base import CheckResult
from dataqual.validate.suites import ExpectationMeta, Suite, columns_of

__all__ = ["GxValidator"]

log = logging.getLogger(__name__)
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

_SITE = "dataqual"
#: Every failing row, by the table's index (its row number in ``profile.parquet``, which is
#: what Data Docs show; we map it to ids): asking GX for the ``id`` column instead makes it
#: look each failing row up one by one (0.5 ms a row: minutes for a million blank images).
#: No pandas query string (GX builds one per expectation).
_RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "return_unexpected_index_query": False,
}


def _parameters_of(kwargs: Any) -> set[str]:
    if isinstance(kwargs, dict):
        if set(kwargs) == {"$PARAMETER"}:
            return {kwargs["$PARAMETER"]}
        return set().union(*(_parameters_of(v) for v in kwargs.values())) if kwargs else set()
    if isinstance(kwargs, list):
        return set().union(*(_parameters_of(v) for v in kwargs)) if kwargs else set()
    return set()


_TAG = "dataqual_index"


#: Characters HTML gives a meaning; GX 1.x writes table cells into Data Docs unescaped.
_HTML_SPECIAL = r"[&<>\"']"
#: What a split name may keep in GX names (they become Data Docs paths and titles).
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _html_safe(table: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """``table`` with every text value HTML-escaped, and the escaped -> true value map.

    GX 1.x renders Data Docs from ``.j2`` templates with autoescape off (Jinja's
    ``select_autoescape(["html", "xml"])`` does not match ``.j2``), and table cells such as
    unexpected values and unexpected index lists go in raw: a record id read from a file
    name like ``<img src=x onerror=...>.png`` would run as script when Data Docs are opened.
    So GX never sees a raw text value: ids, ``duplicate_of`` and every other text column
    are escaped (``html.escape``, quotes included) and our results map them back.
    Escaping is injective, so uniqueness and equality checks judge the same rows; an
    escaped value always holds ``&`` and an untouched one never does, so the map is exact.
    """
    columns: dict[str, pd.Series] = {}
    original: dict[str, str] = {}
    for name in table.columns:
        column = table[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object)
        if isinstance(column.dtype, pd.StringDtype):
            text = column
        elif column.dtype == object:  # strings, or strings mixed with other values
            if pd.api.types.infer_dtype(column) in ("string", "empty"):
                text = column
            else:
                text = column.where(column.map(type).eq(str).to_numpy(dtype=bool))
        else:
            continue
        unsafe = text.str.contains(_HTML_SPECIAL, regex=True, na=False).to_numpy(dtype=bool)
        if not unsafe.any():
            continue
        raw = text[unsafe]
        escaped = raw.map(html.escape)
        original.update(zip(escaped.tolist(), raw.tolist(), strict=True))
        safe = column.copy()
        safe[unsafe] = escaped
        columns[name] = safe
    return (table.assign(**columns) if columns else table), original


def _restore(value: Any, original: dict[str, str]) -> Any:
    """``value`` (a GX result: a string, or lists and dicts of them) with escaped text
    values mapped back to the true ones."""
    if not original:
        return value
    if isinstance(value, str):
        return original.get(value, value)
    if isinstance(value, dict):
        return {k: _restore(v, original) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_restore(v, original) for v in value]
    return value


def _gx_friendly(table: pd.DataFrame) -> pd.DataFrame:
    """Widen float32/int32 columns: GX's pandas metrics vectorise only int64 and float64
    (others fall back to a Python call per value, 10x slower)."""
    widen = {c: np.float64 for c in table.columns if table[c].dtype == np.float32}
    widen |= {c: np.int64 for c in table.columns if table[c].dtype in (np.int32, np.int16, np.int8)}
    return table.astype(widen) if widen else table


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """``value`` with every ``{"$PARAMETER": name}`` replaced by ``parameters[name]``."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return parameters[value["$PARAMETER"]]
        return {k: _resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, parameters) for v in value]
    return value


def _tagged(
    expectation: dict[str, Any], index: int, parameters: dict[str, Any], suite: str
) -> dict[str, Any]:
    """A copy with its parameters filled in (so Data Docs show the values judged by, e.g.
    the declared row count or the reference's distribution), its suite and our index in
    ``meta``."""
    tagged = copy.deepcopy(expectation)
    tagged["kwargs"] = _resolve(tagged["kwargs"], parameters)
    meta = tagged.setdefault("meta", {})
    meta[_TAG] = index
    meta["suite"] = suite
    return tagged


class GxValidator:
    """Validates profile DataFrames with GX suites; results accumulate for one Data Docs site.

    One pandas asset and batch definition serve every run (the frame is a run parameter):
    registering them anew per run rewrites GX's project configuration each time.
    """

    def __init__(self, docs_dir: Path | None = None) -> None:
        import great_expectations as gx  # heavy: imported only when validation runs

        self._gx = gx
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = {"globally": False}  # type: ignore[assignment]
        asset = self._context.data_sources.add_pandas("profiles").add_dataframe_asset("profile")
        self._batch = asset.add_batch_definition_whole_dataframe("whole")
        self._docs_dir = Path(docs_dir) if docs_dir else None
        if self._docs_dir is not None:
            self._context.add_data_docs_site(
                site_name=_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(self._docs_dir),
                    },
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )
        self._suite_names: set[str] = set()

    def validate(
        self,
        table: pd.DataFrame,
        suites: Suite | Sequence[Suite],
        *,
        stage: str,
        split: str | None,
        parameters: dict[str, Any],
        row_level: bool | None = None,
        notes: dict[str, str] | None = None,
    ) -> list[CheckResult]:
        """Run the suites' expectations for ``stage`` on ``table`` in one GX validation;
        unresolvable ones are skipped.

        ``row_level`` selects map expectations (True), aggregate ones (False) or all (None).
        Several suites are folded into one GX run (named ``dataqual.<stage>_<split>``, each
        expectation's meta naming its suite): GX's cost is per run and per expectation, not
        per row. Only the columns the expectations read are handed to GX: its per-run cost
        grows with the table's width. GX gets text values HTML-escaped (its Data Docs do not
        escape them; see :func:`_html_safe`) and split names made plain; the results carry
        the true ids and values.
        """
        gx = self._gx
        suites = [suites] if isinstance(suites, Suite) else list(suites)
        runnable: list[tuple[dict[str, Any], ExpectationMeta, Suite]] = []
        results: list[CheckResult] = []
        for suite in suites:
            for exp, meta in suite.for_stage(stage, row_level=row_level):  # type: ignore[arg-type]
                params = _parameters_of(exp["kwargs"])
                missing = sorted(p for p in params if parameters.get(p) is None)
                if missing:
                    why = "; ".join((notes or {}).get(p, f"not declared: {p}") for p in missing)
                    results.append(self._skipped(meta, suite, stage, split, why))
                else:
                    runnable.append((exp, meta, suite))
        if not runnable:
            return results
        # Split names come from folder names or data: GX turns suite names into Data Docs
        # paths (a dot is a folder) and titles, so only plain characters go in.
        split_name = _NAME_UNSAFE.sub("_", split) if split else "all"
        label = f"{stage}_{split_name}" + {None: "", True: "_rows", False: "_table"}[row_level]
        prefix = suites[0].name if len(suites) == 1 else "dataqual"
        name = self._unique(f"{prefix}.{label}")
        gx_suite = gx.ExpectationSuite(
            name=name,
            expectations=[
                _tagged(e, i, parameters, s.name) for i, (e, _, s) in enumerate(runnable)
            ],
            meta={
                "dataqual": {
                    s.name: {**s.meta.model_dump(), "source_file": s.path.name} for s in suites
                }
            },
        )
        gx_suite = self._context.suites.add(gx_suite)
        vd = self._context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=self._batch, suite=gx_suite)
        )
        read = set().union(*(columns_of(e) for e, _, _ in runnable))
        # Only the columns read (GX fingerprints every column it gets); failing rows come
        # back as index labels, mapped to ids in _convert.
        needed = sorted(read)
        frame, original = _html_safe(table[[c for c in needed if c in table]])
        run = vd.run(
            batch_parameters={"dataframe": _gx_friendly(frame)},
            result_format=_RESULT_FORMAT if row_level is not False else "SUMMARY",
        )
        # GX orders results by how it computes metrics, not as listed: match them by our tag.
        by_index = {int(res.expectation_config.meta[_TAG]): res for res in run.results}
        for i, (_, meta, suite) in enumerate(runnable):
            results.append(self._convert(by_index[i], meta, suite, stage, split, table, original))
        return results

    def _unique(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3``... when a stage is validated more than once."""
        candidate, n = name, 1
        while candidate in self._suite_names:
            n += 1
            candidate = f"{name}-{n}"
        self._suite_names.add(candidate)
        return candidate

    def build_docs(self) -> Path | None:
        """Render Data Docs for every validation so far; returns the index page."""
        if self._docs_dir is None:
            return None
        self._context.build_data_docs(site_names=[_SITE])
        index = self._docs_dir / "index.html"
        return index if index.is_file() else None

    @staticmethod
    def _skipped(
        meta: ExpectationMeta, suite: Suite, stage: str, split: str | None, why: str
    ) -> CheckResult:
        return CheckResult(
            name=meta.check,
            description=meta.description,
            severity=meta.severity,
            action=meta.action,
            success=True,
            split=split,
            stage=stage,
            suite=suite.name,
            engine="gx",
            skipped=why,
            repair=meta.repair,
        )

    @staticmethod
    def _convert(
        res: Any,
        meta: ExpectationMeta,
        suite: Suite,
        stage: str,
        split: str | None,
        table: pd.DataFrame,
        original: dict[str, str],
    ) -> CheckResult:
        """Our result of one GX expectation result, with true (unescaped) ids and values."""
        result = _restore(dict(res.result or {}), original)
        ids = np.array([], dtype=str)
        details = np.array([], dtype=str)
        observed: dict[str, Any] = {}
        if "unexpected_index_list" in result:
            rows = table.index.get_indexer(result.get("unexpected_index_list") or [])
            ids = table["id"].to_numpy(dtype=object)[rows].astype(str)
            column = res.expectation_config.kwargs.get("column", "")
            values = result.get("unexpected_list") or []
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
            name=meta.check,
            description=meta.description,
            severity=meta.severity,
            action=meta.action,
            success=bool(res.success),
            split=split,
            stage=stage,
            ids=ids,
            details=details,
            element_count=len(table),
            observed=observed,
            repair=meta.repair,
            suite=suite.name,
            engine="gx",
        )
