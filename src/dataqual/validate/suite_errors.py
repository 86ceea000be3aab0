"""One-line suite errors: the file, the key path and the problem, with the allowed values.

``expectations/label_issues.json: meta.dataqual.analysers.label_issues.neighbors: unknown
key (allowed: stages, notes, model, ...)`` — built from a pydantic ``ValidationError`` and
the model that was validated, so the allowed keys and ranges come from the model itself.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import annotated_types
from pydantic import BaseModel, ValidationError

from dataqual.errors import ConfigError

__all__ = ["key_path", "shown_path", "suite_error", "validation_error"]

_Loc = Sequence[str | int]

_KINDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "string": "a string",
    "list": "a list",
    "tuple": "a list",
    "dict": "an object",
    "model": "an object",
}
_RANGE = {
    annotated_types.Ge: (">=", "ge"),
    annotated_types.Gt: (">", "gt"),
    annotated_types.Le: ("<=", "le"),
    annotated_types.Lt: ("<", "lt"),
}


def shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies inside it, else as given."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def key_path(loc: _Loc) -> str:
    """``("meta", "dataqual", "stages", 0)`` -> ``meta.dataqual.stages[0]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def suite_error(path: Path, loc: _Loc, problem: str) -> ConfigError:
    """``<file>: <key path>: <problem>`` (the key path left out when empty)."""
    where = f"{shown_path(path)}: {key_path(loc)}" if loc else shown_path(path)
    return ConfigError(f"{where}: {problem}")


def validation_error(
    path: Path, prefix: _Loc, model: type[BaseModel], exc: ValidationError
) -> ConfigError:
    """The first error of ``exc`` (from validating ``model`` at ``prefix``) as one line."""
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    return suite_error(path, (*prefix, *loc), _problem(error, model, loc))


def _shown(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return repr(value)


def _problem(error: Any, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind = str(error["type"])
    value = _shown(error.get("input"))
    if kind == "extra_forbidden":
        owner = _model_at(model, loc[:-1])
        allowed = ", ".join(owner.model_fields) if owner else "none"
        return f"unknown key (allowed: {allowed})"
    if kind == "missing":
        return "required key is missing"
    if kind in ("literal_error", "enum"):
        return f"{value} is not allowed (allowed: {error['ctx']['expected']})"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{value} is out of range (allowed: {_range(model, loc)})"
    if kind in ("too_short", "too_long"):
        return f"{value}: {error['msg'].lower()}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    base = kind.split("_")[0]
    if base in _KINDS and kind.endswith(("_type", "_parsing", "_from_float")):
        return f"{value} is not {_KINDS[base]}"
    return f"{value}: {error['msg']}"


def _range(model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    owner = _model_at(model, loc[:-1])
    field = owner.model_fields.get(str(loc[-1])) if owner else None
    bounds = [
        f"{symbol} {getattr(item, attr)}"
        for item in (field.metadata if field else [])
        for cls, (symbol, attr) in _RANGE.items()
        if isinstance(item, cls)
    ]
    return " and ".join(bounds) or "see the description"


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that holds the keys at ``loc`` inside ``model`` (None if not a model)."""
    current: type[BaseModel] | None = model
    skip = False  # the part after a dict or list field is a key or an index
    for part in loc:
        if skip:
            skip = False
            continue
        field = current.model_fields.get(str(part)) if current else None
        if field is None:
            return None
        current = _inner_model(field.annotation)
        skip = typing.get_origin(field.annotation) in _CONTAINERS
    return current


_CONTAINERS = (dict, list, tuple, set, frozenset)


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """``annotation`` if a model, else the model inside ``dict[str, M]``, ``M | None``..."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None
