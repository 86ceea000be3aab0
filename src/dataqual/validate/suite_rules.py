"""Rules across the suites of a folder, checked by :func:`~dataqual.validate.load_suites`.

* a check name is defined once;
* an analyser turned on by several suites gets the same settings in each;
* an expectation's ``repair`` names a registered repair (no ``repair`` with action repair:
  the reader repaired the row);
* every column an expectation reads is a profile column or one an analyser adds, that
  analyser is turned on by some suite, and its ``stages`` cover every stage the
  expectation runs at (an analyser's columns exist only at the stages it runs at).
"""

from __future__ import annotations

from collections.abc import Sequence

from dataqual.checks.registry import AnalyserSettings, analysers
from dataqual.profile import PROFILE_COLUMNS
from dataqual.validate.suite_errors import suite_error
from dataqual.validate.suites import ExpectationMeta, Suite, columns_of

__all__ = ["check_suites"]


def check_suites(suites: Sequence[Suite]) -> None:
    """Raise :class:`~dataqual.errors.ConfigError` (one line: file, key, problem) at the
    first rule a folder of loaded suites breaks."""
    _unique_checks(suites)
    settings = _one_setting_per_analyser(suites)
    _repairs_exist(suites)
    _columns_provided(suites, settings)


def _unique_checks(suites: Sequence[Suite]) -> None:
    seen: dict[str, str] = {}
    for suite in suites:
        for i, (_, meta) in enumerate(suite.expectations):
            first = seen.setdefault(meta.check, suite.name)
            if first != suite.name:
                raise suite_error(
                    suite.path,
                    ("expectations", i, "meta", "check"),
                    f"check {meta.check!r} is defined in both {first} and {suite.name}",
                )


def _one_setting_per_analyser(suites: Sequence[Suite]) -> dict[str, AnalyserSettings]:
    chosen: dict[str, tuple[Suite, AnalyserSettings]] = {}
    for suite in suites:
        for name, settings in suite.meta.analysers.items():
            first, known = chosen.setdefault(name, (suite, settings))
            if known != settings:
                raise suite_error(
                    suite.path,
                    ("meta", "dataqual", "analysers", name),
                    f"settings differ from those in {first.path.name}; set them in one suite",
                )
    return {name: settings for name, (_, settings) in chosen.items()}


def _repairs_exist(suites: Sequence[Suite]) -> None:
    from dataqual.repairs import repair_names

    known = repair_names()
    for suite in suites:
        for i, (_, meta) in enumerate(suite.expectations):
            if meta.repair is not None and meta.repair not in known:
                raise suite_error(
                    suite.path,
                    ("expectations", i, "meta", "repair"),
                    f"unknown repair {meta.repair!r} (registered: {', '.join(known)})",
                )


def _columns_provided(suites: Sequence[Suite], settings: dict[str, AnalyserSettings]) -> None:
    provider = {c: name for name, cls in analysers().items() for c in cls.columns}
    for suite in suites:
        for i, (exp, meta) in enumerate(suite.expectations):
            for column in sorted(columns_of(exp) - set(PROFILE_COLUMNS)):
                where = ("expectations", i, "kwargs")
                problem = _column_problem(column, provider.get(column), settings, suite, meta)
                if problem:
                    raise suite_error(suite.path, where, f"check {meta.check!r}: {problem}")


def _column_problem(
    column: str,
    analyser: str | None,
    settings: dict[str, AnalyserSettings],
    suite: Suite,
    meta: ExpectationMeta,
) -> str | None:
    if analyser is None:
        return f"column {column!r} is neither a profile column nor added by an analyser"
    if analyser not in settings:
        return (
            f"column {column!r} comes from analyser {analyser!r}, which no suite turns on "
            f"(add it to meta.dataqual.analysers)"
        )
    runs = [st for st in suite.meta.stages if meta.stages is None or st in meta.stages]
    missing = [st for st in runs if st not in settings[analyser].stages]
    if missing:
        return (
            f"reads {column!r} at stage {', '.join(missing)}, but analyser {analyser!r} runs "
            f"only at {', '.join(settings[analyser].stages) or 'no stage'}"
        )
    return None
