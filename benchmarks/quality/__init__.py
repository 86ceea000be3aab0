"""The detection-quality benchmark (``benchmarks/bench_quality.py``) in parts.

:mod:`.plant` plants defects in real MNIST and writes the dirty copies with
:mod:`dataqual.testing`; :mod:`.measure` runs the pipeline and the analysers on them;
:mod:`.score` turns findings and the planted truth into precision and recall;
:mod:`.settings` reads the thresholds the suites and analysers use; :mod:`.render` and
:mod:`.notes` write docs/quality.md from the measured figures and those settings.
"""

__all__: list[str] = []
