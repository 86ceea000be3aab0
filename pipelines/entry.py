"""The ``dataqual`` console script: hand the command to the warm runner when one can take
it (:mod:`pipelines.warm_client`), else import the CLI and run it here."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pipelines.warm_client import run_warm

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dataqual ARGV`` (default: ``sys.argv[1:]``) and return its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    code = run_warm(args)
    if code is None:
        from pipelines.cli import main as run_here

        code = run_here(args)
    return code
