"""``dataqual suites check [DIR]`` and ``dataqual suites show [DIR]``: lint a folder of
expectation suites, or print the analysers' effective settings and the suites' checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dataqual.errors import ConfigError
from dataqual.validate.suite_view import describe_suites
from dataqual.validate.suites import default_suites_dir, load_suites

__all__ = ["add_suites_parser", "cmd_suites"]

EXIT_OK, EXIT_BAD_SUITES = 0, 2


def add_suites_parser(subparsers: Any) -> None:
    """Add the ``suites`` command (``check`` and ``show``) to the CLI's subparsers."""
    suites = subparsers.add_parser(
        "suites",
        help="lint a folder of expectation suites, or show their settings and checks",
        description="Check a folder of GX expectation suites with dataqual's metadata (the "
        "same validation a run does in preflight), or show each analyser's effective settings "
        "with defaults and descriptions, and each suite's checks.",
        epilog="Exit codes: 0 the folder is valid, 2 it is not (one line names file and key).",
    )
    actions = suites.add_subparsers(dest="suites_command", required=True, metavar="ACTION")
    for name, text in (
        ("check", "validate every suite of DIR; print `ok: N suites, M checks`"),
        ("show", "print the analysers' effective settings and the suites' checks"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "dir",
            nargs="?",
            type=Path,
            default=None,
            metavar="DIR",
            help=f"folder of suites (default: {default_suites_dir()})",
        )


def cmd_suites(args: argparse.Namespace) -> int:
    """Run ``suites check`` or ``suites show``; 2 with one line on stderr for a bad folder."""
    try:
        suites = load_suites(args.dir)
    except ConfigError as exc:
        print(f"dataqual: error: {exc}", file=sys.stderr)
        return EXIT_BAD_SUITES
    if args.suites_command == "show":
        print(describe_suites(suites))
    else:
        checks = sum(len(s.expectations) for s in suites)
        print(f"ok: {len(suites)} suites, {checks} checks")
    return EXIT_OK
