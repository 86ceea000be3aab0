"""Prefect 3 flows, deployments and the ``dataqual`` command line: thin wiring over the library."""

__all__: list[str] = []
