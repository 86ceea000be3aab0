"""Class balance: every class present holds a fair share of each split's labelled rows."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
from pydantic import Field

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.base import Action, CheckResult, Severity
from dataqual.checks.registry import Analyser, AnalyserSettings, register_analyser
from dataqual.profile import Profile

__all__ = ["ClassBalance", "ClassBalanceSettings", "class_shares"]


def class_shares(labels: pd.Series, classes: np.ndarray) -> np.ndarray:
    """Share of the non-missing ``labels`` that equal each of ``classes``."""
    values = labels.dropna().to_numpy(dtype=np.int64)
    counts = (values[:, None] == classes[None, :]).sum(axis=0)
    return counts / max(1, len(values))


class ClassBalanceSettings(AnalyserSettings):
    """Settings of :class:`ClassBalance`; the threshold is the spec's ``min_class_share``."""

    severity: Severity = Field(Severity.ERROR, description="Severity of an unbalanced split.")


@register_analyser
class ClassBalance(Analyser[ClassBalanceSettings]):
    """Every class present in a split holds at least ``spec.min_class_share`` of its rows
    labelled with a declared class (absent classes are ``classes_present``'s finding, foreign
    labels ``label_in_classes``'). One result per split, with all shares in ``observed``."""

    name: ClassVar[str] = "class_balance"
    Settings = ClassBalanceSettings

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        s: ClassBalanceSettings = self.settings(context)
        threshold = float(context.spec.min_class_share)
        classes = np.asarray(context.spec.classes, np.int64)
        results = []
        for name in profile.splits:
            labels = profile.table.loc[profile.rows_of(name), "label"]
            labels = labels.where(labels.isin(classes))  # foreign labels: label_in_classes' finding
            shares = class_shares(labels, classes)
            present = shares > 0
            below = classes[present & (shares < threshold)]
            smallest = int(np.argmin(np.where(present, shares, np.inf))) if present.any() else None
            observed = {
                "min_class_share": threshold,
                "shares": dict(zip(classes.tolist(), shares.round(5).tolist(), strict=True)),
                "smallest_class": None if smallest is None else int(classes[smallest]),
                "smallest_share": None if smallest is None else round(float(shares[smallest]), 5),
                "below": below.tolist(),
            }
            results.append(
                CheckResult(
                    name="class_balance",
                    description=f"Each class present holds >= {threshold:.1%} of the labelled rows",
                    severity=s.severity,
                    action=Action.NONE,
                    success=not len(below),
                    split=str(name),
                    stage=context.stage,
                    element_count=int(labels.notna().sum()),
                    observed=observed,
                    suite="drift",
                    skipped=None if present.any() else "no labelled rows",
                )
            )
        return Analysis(results=results)
