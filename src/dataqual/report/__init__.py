"""Report: a single self-contained HTML page per run."""

from dataqual.report.html import write_report

__all__ = ["write_report"]
