"""The one exception tree of dataqual.

Every error a user can cause derives from :class:`DataqualError`; each subclass also
inherits the builtin it refines, so ``except ValueError`` keeps working for callers who
do not know our types::

    DataqualError
    ├── SourceError (ValueError)          bad input data: file, record and problem named
    │   ├── FormatError                   content does not match the format (magic, shape, columns)
    │   └── TruncatedError                the file holds less than its header declares
    ├── ConfigError (ValueError)          bad settings, suites or CLI usage
    ├── DownloadError (OSError)           a dataset could not be fetched or failed its checksum
    ├── OutputError (OSError)             the output folder cannot be written safely
    ├── ValidationFailed (RuntimeError)   training refused because validation failed
    └── Cancelled (RuntimeError)          the run was interrupted (Ctrl-C, SIGTERM)
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "Cancelled",
    "ConfigError",
    "DataqualError",
    "DownloadError",
    "FormatError",
    "OutputError",
    "SourceError",
    "TruncatedError",
    "ValidationFailed",
]


class DataqualError(Exception):
    """Base class of every error dataqual raises on purpose."""


class SourceError(DataqualError, ValueError):
    """Input data that cannot be read. The message names the file, the record and the problem."""

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        record: int | str | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.record = record
        self.hint = hint
        where = self.path if record is None else f"{self.path}, record {record}"
        message = f"{where}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class FormatError(SourceError):
    """The content does not match its format: wrong magic number, shape or column count."""


class TruncatedError(SourceError):
    """The file ends before the data its header declares."""


class ConfigError(DataqualError, ValueError):
    """Settings, suites or command-line usage that cannot work."""


class DownloadError(DataqualError, OSError):
    """A dataset file could not be downloaded, or it failed its pinned checksum."""


class OutputError(DataqualError, OSError):
    """The output folder cannot be written safely (exists, not writable, ...)."""


class ValidationFailed(DataqualError, RuntimeError):
    """Training was refused because the data failed validation (pass ``force`` to override)."""


class Cancelled(DataqualError, RuntimeError):
    """The run was interrupted; a stage stopped at its next check (see :mod:`dataqual.progress`)."""
