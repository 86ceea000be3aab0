"""The registry of readers: a format name -> its :class:`~dataqual.ingest.reader.Reader`
subclass and how to recognise it.

``@register_reader("name", detect=...)`` on a Reader subclass makes ``name`` a format:
``open_source(path, format="name")`` opens it, and :func:`detect_format` asks its
``detect`` (when given) whether a path holds it. Detectors run in registration order
(``before=`` puts one ahead of a named format) and get a :class:`Probe`: the path, whether
it is a folder, and a file's first bytes, raw and decompressed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from dataqual.errors import ConfigError
from dataqual.imageset import ImageSource
from dataqual.ingest.reader import Reader

__all__ = [
    "FORMATS",
    "FORMAT_OPTIONS",
    "Detector",
    "Probe",
    "ReaderEntry",
    "reader_class",
    "readers",
    "register_reader",
]


@dataclass(frozen=True)
class Probe:
    """What detection knows of a path: ``head`` is a file's first bytes (empty for a
    folder), ``text`` the same decompressed when the file is gzip."""

    path: Path
    is_dir: bool
    head: bytes = b""
    text: bytes = b""


#: Whether a path holds a format (must not open anything but regular files, must not raise
#: for a path of another format).
Detector = Callable[[Probe], bool]


@dataclass(frozen=True)
class ReaderEntry:
    """One registered format."""

    name: str
    reader: type[Reader]
    detect: Detector | None
    priority: int = 100


_ENTRIES: dict[str, ReaderEntry] = {}
_OPENERS: dict[str, Callable[..., ImageSource]] = {}
_OPTIONS: dict[str, frozenset[str]] = {}

#: Format name -> opener (``Reader.open``): the path, the reader's options, ``max_expansion``.
FORMATS: Mapping[str, Callable[..., ImageSource]] = MappingProxyType(_OPENERS)
#: Format name -> the keyword options its opener accepts besides ``max_expansion``.
FORMAT_OPTIONS: Mapping[str, frozenset[str]] = MappingProxyType(_OPTIONS)

R = TypeVar("R", bound=type[Reader])


def register_reader(
    name: str, *, detect: Detector | None = None, priority: int = 100
) -> Callable[[R], R]:
    """Class decorator: make a :class:`Reader` subclass the reader of format ``name``.

    ``detect`` lets detection recognise it; without one the format is only used when
    named. Detectors run by ``priority``, lowest first. Registering the same class again
    (a module imported twice) replaces it; another class under a taken name is a
    ConfigError.
    """

    def add(cls: R) -> R:
        if not (isinstance(cls, type) and issubclass(cls, Reader)):
            raise TypeError(f"register_reader({name!r}) needs a Reader subclass, got {cls!r}")
        old = _ENTRIES.get(name)
        if old is not None and _qualname(old.reader) != _qualname(cls):
            raise ConfigError(f"format {name!r} is already registered by {_qualname(old.reader)}")
        cls.format = name
        _ENTRIES[name] = ReaderEntry(name, cls, detect, priority)
        _OPENERS[name] = cls.open
        _OPTIONS[name] = cls.options
        return cls

    return add


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def reader_class(name: str) -> type[Reader]:
    """The reader of format ``name``; ConfigError listing the known formats otherwise."""
    entry = _ENTRIES.get(name)
    if entry is None:
        raise ConfigError(f"unknown format {name!r}; known formats: {', '.join(sorted(_ENTRIES))}")
    return entry.reader


def readers() -> list[ReaderEntry]:
    """Every registered format, in detection order."""
    order = {name: i for i, name in enumerate(_ENTRIES)}
    return sorted(_ENTRIES.values(), key=lambda e: (e.priority, order[e.name]))
