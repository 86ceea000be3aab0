"""GX contexts that keep suites and validation results in a folder, for one Data Docs site.

An ephemeral GX context keeps everything in memory, so results validated in one process
would be lost to the Data Docs built in another. Here the expectation suites and the
validation results go to ``<store>/expectations`` and ``<store>/validations`` (GX's own
JSON layout), so every context opened on the same folder sees, and renders, all of them.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

__all__ = ["SITE", "has_suite", "open_context", "store_result"]

#: The name of our Data Docs site.
SITE = "dataqual"
#: Stand-in for the validated DataFrame in a stored result's batch parameters (GX's own).
_DATAFRAME = "<DATAFRAME>"


def open_context(docs_dir: Path | None, store_dir: Path | None) -> Any:
    """An ephemeral GX context; with ``docs_dir``, a Data Docs site there, rendered from
    suites and results kept in ``store_dir`` (in memory when None). No analytics and no
    progress bars, whatever the environment says."""
    import great_expectations as gx  # heavy: imported only when validation runs
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults()
    if store_dir is not None:
        for store, folder in (
            (defaults.expectations_store_name, "expectations"),
            (defaults.validation_results_store_name, "validations"),
        ):
            defaults.stores[store]["store_backend"] = _folder_backend(store_dir / folder)
    sites = {}
    if docs_dir is not None:
        sites[SITE] = {
            "class_name": "SiteBuilder",
            "store_backend": _folder_backend(docs_dir),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _folder_backend(folder: Path) -> dict[str, str]:
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(folder)}


def has_suite(context: Any, name: str) -> bool:
    """Whether the context's store holds a suite ``name`` (kept by any validator)."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    return bool(context.expectations_store.has_key(ExpectationSuiteIdentifier(name=name)))


def store_result(context: Any, result: Any, *, suite: str, batch_id: str | None) -> None:
    """Keep a suite's validation result for Data Docs, with the run metadata GX's
    ``ValidationDefinition.run`` records (run id and time, batch parameters)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    run_id = RunIdentifier(run_time=datetime.datetime.now(datetime.UTC))
    result.meta.update(
        run_id=run_id, validation_time=run_id.run_time, batch_parameters={"dataframe": _DATAFRAME}
    )
    suite_id = ExpectationSuiteIdentifier(name=suite)
    context.validation_results_store.store_validation_results(
        suite_validation_result=result,
        suite_validation_result_identifier=ValidationResultIdentifier(
            expectation_suite_identifier=suite_id, run_id=run_id, batch_identifier=batch_id
        ),
        expectation_suite_identifier=suite_id,
    )
