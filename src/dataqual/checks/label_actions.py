"""What cleaning does with suspected label errors: ``flag`` (list them), ``drop`` (quarantine
them, reason ``label_issue``) or ``relabel`` (give the rows the out-of-fold model is confident
about, probability >= ``relabel_threshold``, its class; the others stay flagged).

The choice lives in the ``label_issues`` suite (the ``label_issue`` expectation's ``action``,
plus a ``label_relabel`` expectation on ``relabel_to`` for relabel); :func:`with_label_action`
overrides it on loaded suites (``--clean-labels``). A relabelled row keeps its original label
in the findings (``label_issue`` and ``label_relabel`` rows) and the ``label_issues`` queue.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Literal

from dataqual.checks.base import Action, Severity
from dataqual.errors import ConfigError
from dataqual.validate.suites import ExpectationMeta, Suite

__all__ = ["LABEL_ACTIONS", "LabelAction", "relabel_expectation", "with_label_action"]

LabelAction = Literal["flag", "drop", "relabel"]
#: The label actions, the first the default.
LABEL_ACTIONS: tuple[str, ...] = ("flag", "drop", "relabel")
_ISSUE = "label_issue"
_RELABEL = "label_relabel"


def relabel_expectation() -> dict[str, Any]:
    """The ``label_relabel`` expectation (GX document) the relabel action adds."""
    return {
        "type": "expect_column_values_to_be_null",
        "kwargs": {"column": "relabel_to"},
        "meta": {
            "check": _RELABEL,
            "description": "No confident label correction: the out-of-fold model gives another "
            "class at least relabel_threshold (detail: the new label)",
            "severity": Severity.WARNING.value,
            "action": Action.REPAIR.value,
            "repair": "relabel",
        },
    }


def _with(suite: Suite, action: str) -> Suite:
    document = copy.deepcopy(suite.document)
    kept = [e for e in document["expectations"] if e.get("meta", {}).get("check") != _RELABEL]
    for exp in kept:
        if exp.get("meta", {}).get("check") == _ISSUE:
            exp["meta"]["action"] = (Action.DROP if action == "drop" else Action.FLAG).value
    if action == "relabel":
        kept.append(relabel_expectation())
    document["expectations"] = kept
    expectations = [(e, ExpectationMeta.model_validate(e.get("meta", {}))) for e in kept]
    return suite.model_copy(update={"document": document, "expectations": expectations})


def with_label_action(suites: Sequence[Suite], action: str | None) -> list[Suite]:
    """``suites`` with the label action set to ``action`` in every suite holding the
    ``label_issue`` check (None: unchanged). Raises :class:`ConfigError` for another name."""
    if action is None:
        return list(suites)
    if action not in LABEL_ACTIONS:
        raise ConfigError(f"--clean-labels {action!r} is not one of {', '.join(LABEL_ACTIONS)}")
    holds = [any(m.check == _ISSUE for _, m in s.expectations) for s in suites]
    if not any(holds):
        raise ConfigError(f"--clean-labels {action}: no suite has the {_ISSUE} check")
    return [_with(s, action) if h else s for s, h in zip(suites, holds, strict=True)]
