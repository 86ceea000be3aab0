"""The analyser registry: built-ins load lazily in run order, settings are typed and
documented, registration refuses clashes, and ``run`` applies the stages setting."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from dataqual.checks import registry
from dataqual.checks.analysis import Analysis, AnalysisContext
from dataqual.checks.registry import (
    Analyser,
    AnalyserSettings,
    Partner,
    analysers,
    get_analyser,
    partner_columns,
    register_analyser,
)
from dataqual.errors import ConfigError
from dataqual.profile import Profile
from dataqual.spec import DatasetSpec
from tests.checks import make_profile, synthetic_images

BUILTINS = ["exact_duplicates", "near_duplicates", "label_issues", "drift", "class_balance"]


@pytest.fixture
def scratch_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test are dropped after it."""
    analysers()  # built-ins first, as in a run
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_importing_the_registry_loads_no_analyser() -> None:
    code = (
        "import sys, dataqual.checks, dataqual.checks.registry as r\n"
        "assert not [m for m in sys.modules if m.startswith('dataqual.checks.') and "
        "m not in ('dataqual.checks.registry', 'dataqual.checks.analysis', "
        "'dataqual.checks.base')], sorted(sys.modules)\n"
        "assert list(r.analysers())[:5] == " + repr(BUILTINS)
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_builtins_in_run_order_with_typed_documented_settings() -> None:
    registered = analysers()
    assert list(registered)[:5] == BUILTINS
    for name, cls in registered.items():
        assert cls.name == name and get_analyser(name) is cls
        assert issubclass(cls.Settings, AnalyserSettings)
        config = cls.Settings.model_config
        assert config.get("extra") == "forbid" and config.get("frozen") is True
        for field, info in cls.Settings.model_fields.items():
            assert info.description, (name, field)
        cls.Settings()  # every field has a default
    with pytest.raises(ValidationError):
        get_analyser("label_issues").Settings.model_validate({"neighbors": 10})


def test_unknown_analyser_names_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"'nope' \(registered: exact_duplicates"):
        get_analyser("nope")


def test_partners_come_from_the_analysers() -> None:
    partners = partner_columns()
    assert partners["exact_duplicate"] == Partner("duplicate_of", "duplicate of")
    assert partners["leakage"].column == "leaks_into"
    assert partners["near_duplicate"].column == "near_duplicate_of"
    assert partners["duplicate_label_conflict"].same_value


class CountSettings(AnalyserSettings):
    offset: int = 0


class Count(Analyser[CountSettings]):
    name: ClassVar[str] = "toy_count"
    Settings = CountSettings
    columns: ClassVar[tuple[str, ...]] = ("toy_count",)
    partners: ClassVar[dict[str, Partner]] = {"toy_pair": Partner("id", "same as")}

    def analyse(self, profile: Profile, context: AnalysisContext) -> Analysis:
        settings: CountSettings = self.settings(context)
        return Analysis(columns={"toy_count": np.arange(len(profile.table)) + settings.offset})


def profile() -> Profile:
    y = np.arange(4) % 2
    return make_profile({"train": (synthetic_images(y), y)})


@pytest.mark.usefixtures("scratch_registry")
def test_a_registered_analyser_runs_after_the_builtins() -> None:
    register_analyser(Count)
    register_analyser(Count)  # the same class again (a module imported twice) is fine
    assert list(analysers())[-1] == "toy_count" and list(analysers())[:5] == BUILTINS
    assert partner_columns()["toy_pair"].column == "id"

    class Other(Count):
        pass

    with pytest.raises(ConfigError, match="'toy_count' is already registered by Count"):
        register_analyser(Other)


@pytest.mark.usefixtures("scratch_registry")
def test_names_must_be_identifiers() -> None:
    class Bad(Count):
        name: ClassVar[str] = "not a name"

    with pytest.raises(ConfigError, match="needs a `name` that is an identifier"):
        register_analyser(Bad)


def test_run_applies_stages_and_typed_settings() -> None:
    spec = DatasetSpec()
    prof = profile()
    defaults = Count().run(prof, AnalysisContext(stage="raw", spec=spec))
    assert defaults.columns["toy_count"].tolist() == [0, 1, 2, 3]
    shifted = AnalysisContext(stage="raw", spec=spec, settings=CountSettings(offset=5))
    assert Count().run(prof, shifted).columns["toy_count"].tolist() == [5, 6, 7, 8]
    raw_only = CountSettings(stages=("raw",))
    cleaned = AnalysisContext(stage="cleaned", spec=spec, settings=raw_only)
    assert Count().run(prof, cleaned) == Analysis()
    wrong = AnalysisContext(stage="raw", spec=spec, settings=AnalyserSettings())
    with pytest.raises(TypeError, match="toy_count needs CountSettings"):
        Count().run(prof, wrong)
