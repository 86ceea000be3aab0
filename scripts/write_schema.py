"""Write docs/run_summary.schema.json, the JSON schema of run summaries (validation.json is
a subset of its fields, run.json a view of it): ``python scripts/write_schema.py``."""

from __future__ import annotations

import json
from pathlib import Path

from dataqual.summary import RunSummary

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "run_summary.schema.json"


def schema_text() -> str:
    """The schema as written to the docs: sorted keys, two-space indent."""
    return json.dumps(RunSummary.model_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA.write_text(schema_text())
    print(SCHEMA)
