"""The analyser registry: the extension point for checks that read the whole profile.

An analyser is a class with a ``name``, a typed ``Settings`` model (defaults live there and
only there), the profile ``columns`` it adds, optional report ``partners`` and an
``analyse`` method. :func:`register_analyser` adds one; a suite turns it on by naming it in
``meta.dataqual.analysers`` (with overrides of its settings) and checks its columns with
GX expectations. The built-in analysers are imported on the first lookup, not at import.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import ClassVar, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field

from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.errors import ConfigError
from dataqual.profile import Profile

__all__ = [
    "Analyser",
    "AnalyserSettings",
    "Partner",
    "Stage",
    "analysers",
    "get_analyser",
    "partner_columns",
    "register_analyser",
]

Stage = Literal["raw", "cleaned"]

#: Modules of the built-in analysers, in the order their analysers run.
_BUILTIN_MODULES = (
    "dataqual.checks.duplicates",
    "dataqual.checks.near_duplicates",
    "dataqual.checks.label_issues",
    "dataqual.checks.drift",
    "dataqual.checks.balance",
)


class AnalyserSettings(BaseModel):
    """Settings every analyser has; subclasses add their own fields (each with a description)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: tuple[Stage, ...] = Field(
        ("raw", "cleaned"), description="Stages the analyser runs at (raw, cleaned)."
    )
    notes: str = Field("", description="Free text: why these values; not read by the analyser.")


_S = TypeVar("_S", bound=AnalyserSettings)


@dataclass(frozen=True)
class Partner:
    """How the report finds the row a finding pairs with: the profile ``column`` holds the
    partner's id, or (``same_value``) the partner is another row with the same value."""

    column: str
    relation: str
    same_value: bool = False


class Analyser(ABC, Generic[_S]):
    """A named multi-row check. Subclasses set the class attributes and implement
    :meth:`analyse`; :meth:`run` resolves the settings and skips stages not in ``stages``."""

    name: ClassVar[str]
    Settings: ClassVar[type[AnalyserSettings]] = AnalyserSettings
    #: Profile columns :meth:`analyse` adds (what the suites' expectations may read).
    columns: ClassVar[tuple[str, ...]] = ()
    #: Check name -> where the report finds the paired row of a finding.
    partners: ClassVar[dict[str, Partner]] = {}

    @abstractmethod
    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        """New profile columns, table-level results and artefacts; ``context.settings`` is
        an instance of :attr:`Settings`."""

    def settings(self, context: AnalysisContext) -> _S:
        """``context.settings``, typed (the defaults when the context has none)."""
        settings = context.settings if context.settings is not None else self.Settings()
        if not isinstance(settings, self.Settings):
            raise TypeError(f"{self.name} needs {self.Settings.__name__}, got {type(settings)}")
        return cast(_S, settings)

    def run(self, profile: Profile, context: AnalysisContext) -> Analysis:
        """:meth:`analyse` with typed settings, or nothing at a stage not in ``stages``."""
        settings = self.settings(context)
        if context.stage not in settings.stages:
            return Analysis()
        return self.analyse(profile, replace(context, settings=settings))


_REGISTRY: dict[str, type[Analyser]] = {}
_builtins_loaded = False

_A = TypeVar("_A", bound=type[Analyser])


def register_analyser(cls: _A) -> _A:
    """Class decorator adding an analyser under its ``name`` (a Python identifier, unique)."""
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(f"analyser {cls.__qualname__} needs a `name` that is an identifier")
    known = _REGISTRY.get(name)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise ConfigError(f"analyser {name!r} is already registered by {known.__qualname__}")
    _REGISTRY[name] = cls
    return cls


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)


def _rank(cls: type[Analyser]) -> int:
    module = cls.__module__
    return _BUILTIN_MODULES.index(module) if module in _BUILTIN_MODULES else len(_BUILTIN_MODULES)


def analysers() -> dict[str, type[Analyser]]:
    """Every registered analyser by name, in run order: the built-ins, then the others in
    the order they were registered."""
    _load_builtins()
    order = {name: i for i, name in enumerate(_REGISTRY)}
    ranked = sorted(_REGISTRY.items(), key=lambda item: (_rank(item[1]), order[item[0]]))
    return dict(ranked)


def get_analyser(name: str) -> type[Analyser]:
    """The analyser registered under ``name``."""
    registered = analysers()
    if name not in registered:
        known = ", ".join(registered)
        raise ConfigError(f"unknown analyser {name!r} (registered: {known})")
    return registered[name]


def partner_columns() -> dict[str, Partner]:
    """Check name -> how the report finds its paired row, over every registered analyser."""
    return {check: p for cls in analysers().values() for check, p in cls.partners.items()}
