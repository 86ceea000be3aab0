"""Lineage of a run's shards: the source files, the suites and the code that made them."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from dataqual import __version__
from dataqual.files import sha256_file
from dataqual.imageset import ImageSource
from dataqual.ingest.paths import file_problem
from dataqual.store.manifest import Lineage, SourceFile, SuiteRef

if TYPE_CHECKING:
    from dataqual.recipe import Ingested

__all__ = ["git_commit", "lineage"]


def lineage(ingested: Ingested, source: ImageSource) -> Lineage:
    """Every source file with its size and sha256, every suite with its digest, the
    dataqual version and git commit."""
    files = [  # readers list only regular files inside the source; this guards the hash
        SourceFile(path=str(p), bytes=p.stat().st_size, sha256=sha256_file(p))
        for p in source.files()
        if file_problem(p) is None
    ]
    suites = [
        SuiteRef(name=s.name, version=s.version, file=s.path.name, sha256=sha256_file(s.path))
        for s in ingested.suites
    ]
    return Lineage(
        source=ingested.description,
        format=ingested.format,
        dataset=ingested.spec.name,
        files=files,
        suites=suites,
        dataqual_version=__version__,
        git_commit=git_commit(),
    )


@cache
def git_commit() -> str | None:
    """The commit of the dataqual checkout this code runs from, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
