"""Checks: the result vocabulary (:mod:`~dataqual.checks.base`), the analyser registry
(:mod:`~dataqual.checks.registry`) and the built-in analysers (duplicates, near duplicates,
label issues, drift, class balance), registered on the registry's first lookup."""

__all__: list[str] = []
