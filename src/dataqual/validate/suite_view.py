"""A readable view of a suites folder: each analyser's effective settings (value, default,
description) and each suite's checks with severity and action (``dataqual suites show``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from dataqual.checks.registry import AnalyserSettings
from dataqual.validate.suite_errors import shown_path
from dataqual.validate.suites import Suite, analyser_settings

__all__ = ["describe_suites", "settings_rows"]


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def settings_rows(settings: AnalyserSettings) -> list[tuple[str, str, str, str]]:
    """(field, value, default, description) of every setting but ``notes``, as JSON text."""
    values = settings.model_dump(mode="json")
    defaults = type(settings)().model_dump(mode="json")
    return [
        (name, _text(values[name]), _text(defaults[name]), field.description or "")
        for name, field in type(settings).model_fields.items()
        if name != "notes"
    ]


def _analyser_lines(suites: Sequence[Suite]) -> list[str]:
    where = {name: s for s in suites for name in s.meta.analysers}
    lines = []
    for name, settings in analyser_settings(suites).items():
        lines.append(f"analyser {name} ({shown_path(where[name].path)})")
        if settings.notes:
            lines.append(f"  notes: {settings.notes}")
        rows = settings_rows(settings)
        width = max((len(f) for f, *_ in rows), default=0)
        for field, value, default, description in rows:
            mark = "(default)" if value == default else f"(default: {default})"
            lines.append(f"  {field:<{width}} = {value}  {mark}  # {description}")
    return lines


def _check_lines(suites: Sequence[Suite]) -> list[str]:
    lines = []
    for suite in suites:
        stages = ", ".join(suite.meta.stages)
        lines.append(f"suite {suite.name} ({stages}; per {suite.meta.scope})")
        for _, meta in suite.expectations:
            action = f"{meta.action} ({meta.repair})" if meta.repair else str(meta.action)
            only = f"  [{', '.join(meta.stages)} only]" if meta.stages else ""
            lines.append(f"  {meta.check:<26} {meta.severity!s:<8} {action}{only}")
    return lines


def describe_suites(suites: Sequence[Suite]) -> str:
    """The analysers' effective settings, then every suite's checks, as text."""
    return "\n".join([*_analyser_lines(suites), "", *_check_lines(suites)])
