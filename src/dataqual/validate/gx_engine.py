"""The Great Expectations adapter: runs our suites on profile tables and builds Data Docs.

Everything GX-specific lives in ``gx_*`` modules, so the rest of dataqual sees only
:class:`~dataqual.checks.base.CheckResult`. A :class:`GxValidator` is made from a Data Docs
folder alone; its suites and validation results are kept in a store folder (by default
inside the Data Docs folder), so validators of several stages (one per stage, in one
process or in several) add to one site, and any of them renders every result with
:meth:`GxValidator.build_docs`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dataqual.checks.base import CheckResult
from dataqual.validate.gx_frame import gx_friendly, html_safe, plain_name, restore
from dataqual.validate.gx_results import (
    NONE_UNEXPECTED,
    check_result,
    needs_rows,
    skipped_result,
)
from dataqual.validate.gx_store import SITE, has_suite, open_context, store_result
from dataqual.validate.suites import ExpectationMeta, Suite, columns_of

__all__ = ["STORE_FOLDER", "GxValidator"]

#: Default store folder, inside the Data Docs folder: ``expectations/`` and ``validations/``
#: in GX's JSON layout (the pages are rendered from these).
STORE_FOLDER = ".gx"
#: First pass of map expectations: pass or fail only. GX's cost is mostly per expectation
#: and grows with the metrics a result format asks for (measured on MNIST's 23 row-level
#: expectations: 0.22 s, counts 0.32 s, every failing row 0.5 s).
_PASS_FAIL = "BOOLEAN_ONLY"
#: First pass of aggregate expectations: their observed values (row counts, classes seen).
_COUNTS = "BASIC"
#: Second pass, only for expectations with unexpected values: every failing row by the
#: table's index (its row number, which Data Docs show; we map it to ids). Asking GX for the
#: ``id`` column instead makes it look each failing row up one by one (0.5 ms a row:
#: minutes for a million blank images). No pandas query string (GX builds one per
#: expectation).
_ROWS = {"result_format": "COMPLETE", "return_unexpected_index_query": False}
_TAG = "dataqual_index"

#: One expectation that can run: its GX document, our meta and its suite.
_Runnable = tuple[dict[str, Any], ExpectationMeta, Suite]


class GxValidator:
    """Validates profile DataFrames with GX suites; results accumulate for one Data Docs site.

    ``GxValidator(docs_dir)`` renders Data Docs into ``docs_dir`` from the suites and
    results kept in ``store_dir`` (default ``docs_dir / STORE_FOLDER``): validators made on
    the same folders, one after another or in other processes, share them. Without
    ``docs_dir`` nothing is kept (nor read). One pandas asset and batch definition serve
    every run (the frame is a run parameter).
    """

    def __init__(self, docs_dir: Path | None = None, *, store_dir: Path | None = None) -> None:
        import great_expectations as gx  # heavy: imported only when validation runs

        self._gx = gx
        self._docs_dir = Path(docs_dir) if docs_dir else None
        self._keep = self._docs_dir is not None
        store = None
        if self._docs_dir is not None:
            store = Path(store_dir) if store_dir else self._docs_dir / STORE_FOLDER
        self._context = open_context(self._docs_dir, store)
        asset = self._context.data_sources.add_pandas("profiles").add_dataframe_asset("profile")
        self._batch = asset.add_batch_definition_whole_dataframe("whole")
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
        escape them; see :mod:`dataqual.validate.gx_frame`) and split names made plain; the
        results carry the true ids and values.
        """
        suites = [suites] if isinstance(suites, Suite) else list(suites)
        runnable, results = _plan(suites, stage, split, parameters, row_level, notes or {})
        if not runnable:
            return results
        documents = [_tagged(e, i, parameters, s.name) for i, (e, _, s) in enumerate(runnable)]
        gx_suite = self._suite(suites, documents, stage, split, row_level)
        read = sorted(set().union(*(columns_of(e) for e, _, _ in runnable)))
        frame, original = html_safe(table[[c for c in read if c in table]])
        by_index, passed = self._run(gx_suite, documents, gx_friendly(frame), row_level)
        for i, (_, meta, suite) in enumerate(runnable):
            res = by_index[i]
            result = NONE_UNEXPECTED if i in passed else restore(dict(res.result or {}), original)
            results.append(
                check_result(res, result, meta, suite, stage=stage, split=split, table=table)
            )
        return results

    def _suite(
        self,
        suites: list[Suite],
        documents: list[dict[str, Any]],
        stage: str,
        split: str | None,
        row_level: bool | None,
    ) -> Any:
        """The GX suite of one run, named ``<suite or dataqual>.<stage>_<split>[_rows|_table]``
        (split names made plain) and kept in the store when there is a Data Docs site."""
        label = f"{stage}_{plain_name(split) if split else 'all'}"
        label += {None: "", True: "_rows", False: "_table"}[row_level]
        name = self._unique(f"{suites[0].name if len(suites) == 1 else 'dataqual'}.{label}")
        meta = {
            s.name: {**s.meta.model_dump(mode="json"), "source_file": s.path.name} for s in suites
        }
        gx_suite = self._gx.ExpectationSuite(
            name=name, expectations=documents, meta={"dataqual": meta}
        )
        return self._context.suites.add(gx_suite) if self._keep else gx_suite

    def _run(
        self,
        gx_suite: Any,
        documents: list[dict[str, Any]],
        frame: pd.DataFrame,
        row_level: bool | None,
    ) -> tuple[dict[int, Any], set[int]]:
        """GX results by our index, and the indices of map expectations that passed with no
        unexpected value.

        Two passes on one batch: every expectation cheaply (map expectations pass or fail
        only, the others with their observed values), then only those that failed, or may
        pass with unexpected values (``mostly``), with every failing row. Most pass: their
        row lists and counts would cost half as much again. The merged result is kept for
        Data Docs.
        """
        from great_expectations.validator.v1_validator import Validator

        pass_fail = row_level is True
        validator = Validator(
            batch_definition=self._batch,
            result_format=_PASS_FAIL if pass_fail else _COUNTS,
            batch_parameters={"dataframe": frame},
        )
        run = validator.validate_expectation_suite(gx_suite)
        by_index = {_index(r): r for r in run.results}
        again = [d for d in documents if needs_rows(by_index[d["meta"][_TAG]], d, pass_fail)]
        if again:
            validator.result_format = _ROWS
            rows = self._gx.ExpectationSuite(name=gx_suite.name, expectations=again)
            by_index |= {_index(r): r for r in validator.validate_expectation_suite(rows).results}
            run.results = [by_index[_index(r)] for r in run.results]
        if self._keep:
            store_result(
                self._context, run, suite=gx_suite.name, batch_id=validator.active_batch_id
            )
        passed = set(by_index) - {d["meta"][_TAG] for d in again} if pass_fail else set()
        return by_index, passed

    def _unique(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3``... when a stage is validated more than once
        (by this validator or by an earlier one on the same store)."""
        candidate, n = name, 1
        while candidate in self._suite_names or (
            self._keep and has_suite(self._context, candidate)
        ):
            n += 1
            candidate = f"{name}-{n}"
        self._suite_names.add(candidate)
        return candidate

    def build_docs(self) -> Path | None:
        """Render Data Docs for every validation kept in the store so far (this validator's
        and every other's on the same folders); returns the index page."""
        if self._docs_dir is None:
            return None
        self._context.build_data_docs(site_names=[SITE])
        index = self._docs_dir / "index.html"
        return index if index.is_file() else None


def _index(res: Any) -> int:
    """Our index of a GX expectation result (GX orders results by how it computes metrics)."""
    return int(res.expectation_config.meta[_TAG])


def _plan(
    suites: list[Suite],
    stage: str,
    split: str | None,
    parameters: dict[str, Any],
    row_level: bool | None,
    notes: dict[str, str],
) -> tuple[list[_Runnable], list[CheckResult]]:
    """The expectations that can run, and skipped results for those whose parameters are
    not declared (each naming why, from ``notes``)."""
    runnable: list[_Runnable] = []
    skipped: list[CheckResult] = []
    for suite in suites:
        for exp, meta in suite.for_stage(stage, row_level=row_level):  # type: ignore[arg-type]
            missing = sorted(p for p in _parameters_of(exp["kwargs"]) if parameters.get(p) is None)
            if missing:
                why = "; ".join(notes.get(p, f"not declared: {p}") for p in missing)
                skipped.append(skipped_result(meta, suite, stage, split, why))
            else:
                runnable.append((exp, meta, suite))
    return runnable, skipped


def _parameters_of(kwargs: Any) -> set[str]:
    """Names of the ``{"$PARAMETER": name}`` placeholders in ``kwargs``."""
    if isinstance(kwargs, dict):
        if set(kwargs) == {"$PARAMETER"}:
            return {kwargs["$PARAMETER"]}
        return set().union(*(_parameters_of(v) for v in kwargs.values())) if kwargs else set()
    if isinstance(kwargs, list):
        return set().union(*(_parameters_of(v) for v in kwargs)) if kwargs else set()
    return set()


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
    the declared row count), its suite and our index in ``meta``: GX orders results by how
    it computes metrics, not as listed, so they are matched by this tag."""
    tagged = copy.deepcopy(expectation)
    tagged["kwargs"] = _resolve(tagged["kwargs"], parameters)
    meta = tagged.setdefault("meta", {})
    meta[_TAG] = index
    meta["suite"] = suite
    return tagged
