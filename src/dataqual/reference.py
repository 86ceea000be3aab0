"""The drift reference: the ``profile.parquet`` of an earlier run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dataqual.errors import SourceError
from dataqual.ingest.paths import file_problem
from dataqual.profile import THUMB_SIDE, Profile

__all__ = ["REFERENCE_COLUMNS", "check_reference", "read_reference"]

#: Columns a drift reference must have (a ``profile.parquet`` written by a run has them all).
REFERENCE_COLUMNS = ("split", "label", "mean")
_HINT = "give the profile.parquet of an earlier run"


def check_reference(path: Path) -> None:
    """Refuse a drift reference that is not a ``profile.parquet`` of an earlier run (not a
    file, not Parquet, no profile columns): a :class:`SourceError` naming the file. Reads
    the schema only."""
    path = Path(path)
    problem = file_problem(path)
    if problem is not None:
        raise SourceError(path, f"reference {problem}", hint=_HINT)
    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(
            path, f"reference is not a readable Parquet file ({exc})", hint=_HINT
        ) from exc
    missing = [c for c in REFERENCE_COLUMNS if c not in names]
    if missing:
        problem = f"not a dataqual profile: no column {', '.join(missing)}"
        raise SourceError(path, problem, hint=_HINT)


def read_reference(path: Path, *, shape: tuple[int, int]) -> Profile:
    """The reference profile of :func:`check_reference`'s file, for drift checks."""
    check_reference(path)
    try:
        table = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise SourceError(path, f"reference cannot be read ({exc})") from exc
    return Profile(table=table, thumbs=np.zeros((0, THUMB_SIDE**2), np.uint8), shape=shape)
