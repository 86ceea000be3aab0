"""Repairs: named functions that fix the pixels of the rows a check sends to ``repair``.

A suite's expectation names its repair in ``meta.repair``. Two kinds exist:

* **pixel repairs** (``invert``, and any a plugin adds with :func:`register_repair`) are
  functions ``ImageBatch -> ImageBatch`` applied by the store pass to the rows the cleaning
  plan marks for them (``CleaningPlan.repairs``); the cleaned profile is measured on their
  output. A repair must return the same rows, in the same order, with the same image shape.
* **the label repair** ``relabel`` gives a row the label that the label audit's out-of-fold
  model is confident in (a ``label_relabel`` finding, detail ``relabel_to=K``); the cleaning
  plan turns it into the pixel repairs ``relabel_K`` (:func:`relabel_repair`), which set the
  label and keep the pixels. The original label stays in the raw findings and the
  ``label_issues`` queue (``given_label``).
* **reader repairs** (``clip``, ``resize``, ...) were already done by the reader while
  decoding; cleaning only records them. :func:`register_reader_repair` adds a name.

The built-in pixel repairs are registered on the first lookup, not at import.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from dataqual.errors import ConfigError
from dataqual.imageset import ImageBatch

__all__ = [
    "RELABEL",
    "Repair",
    "get_repair",
    "is_pixel_repair",
    "pixel_repair_names",
    "register_reader_repair",
    "register_repair",
    "relabel_repair",
    "repair_names",
]

#: The label repair a suite names; the plan expands it into ``relabel_<class>`` repairs.
RELABEL = "relabel"
_RELABEL_PREFIX = "relabel_"

#: A pixel repair: the given rows, repaired (same rows, same order, same image shape).
Repair = Callable[[ImageBatch], ImageBatch]

_PIXEL: dict[str, Repair] = {}
_READER: set[str] = set()
_builtins_loaded = False


def _invert(batch: ImageBatch) -> ImageBatch:
    """Photographic negative: ``255 - pixel`` (an image drawn dark on light)."""
    return dataclasses.replace(batch, images=np.subtract(255, batch.images, dtype=np.uint8))


#: Repairs the readers do while decoding (see ``imageset.DEFECT_NAMES``).
_BUILTIN_READER = ("clip", "convert", "exif_transpose", "from_alpha", "rescale", "resize")
_BUILTIN_PIXEL: dict[str, Repair] = {"invert": _invert}


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for name, repair in _BUILTIN_PIXEL.items():
        _add(name, repair, replace=False)
    for name in _BUILTIN_READER:
        register_reader_repair(name)


def _add(name: str, repair: Repair, *, replace: bool) -> None:
    if name in _READER or (name in _PIXEL and _PIXEL[name] is not repair and not replace):
        raise ConfigError(f"repair {name!r} is already registered; pick another name")
    _PIXEL[name] = repair


def register_repair(name: str, *, replace: bool = False) -> Callable[[Repair], Repair]:
    """Decorator registering a pixel repair under ``name`` (the suites' ``meta.repair``).

    Registering another function under a taken name raises :class:`ConfigError` unless
    ``replace`` is true.
    """
    if not name or not name.isidentifier():
        raise ConfigError(f"repair name {name!r} must be a Python identifier")

    def decorate(repair: Repair) -> Repair:
        _load_builtins()
        _add(name, repair, replace=replace)
        return repair

    return decorate


def register_reader_repair(name: str) -> None:
    """Record ``name`` as a repair a reader applies while decoding (nothing to do later)."""
    _load_builtins()
    if name in _PIXEL:
        raise ConfigError(f"repair {name!r} is already registered as a pixel repair")
    _READER.add(name)


def _relabel_class(name: str | None) -> int | None:
    """``K`` of a ``relabel_K`` repair name (None for any other name)."""
    if name is None or not name.startswith(_RELABEL_PREFIX):
        return None
    digits = name[len(_RELABEL_PREFIX) :]
    return int(digits) if digits.isdigit() else None


def relabel_repair(label: int) -> str:
    """The name of the repair that sets the label of its rows to ``label`` (pixels kept)."""
    return f"{_RELABEL_PREFIX}{int(label)}"


def _relabel_to(label: int) -> Repair:
    def relabel(batch: ImageBatch) -> ImageBatch:
        return dataclasses.replace(batch, labels=np.full(len(batch.labels), label, np.int64))

    return relabel


def get_repair(name: str) -> Repair:
    """The pixel repair registered under ``name``."""
    _load_builtins()
    label = _relabel_class(name)
    if label is not None and name not in _PIXEL:
        return _relabel_to(label)
    try:
        return _PIXEL[name]
    except KeyError:
        kind = " (a reader repair: the reader applies it)" if name in _READER else ""
        raise ConfigError(
            f"unknown pixel repair {name!r}{kind}; known: {', '.join(pixel_repair_names())}"
        ) from None


def is_pixel_repair(name: str | None) -> bool:
    """Whether ``name`` is a registered pixel repair (applied by the store pass)."""
    _load_builtins()
    return name in _PIXEL or _relabel_class(name) is not None


def pixel_repair_names() -> list[str]:
    """Names of the registered pixel repairs, sorted (the order they are applied in)."""
    _load_builtins()
    return sorted(_PIXEL)


def repair_names() -> list[str]:
    """Every repair name a suite may use (pixel and reader repairs), sorted."""
    _load_builtins()
    return sorted(_PIXEL.keys() | _READER | {RELABEL})
