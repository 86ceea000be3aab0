"""The size guards every reader shares, decided from headers before anything is allocated:
the largest image side (``--max-image-side``) and the most a compressed source may expand
(``--max-expansion``, against decompression bombs)."""

from __future__ import annotations

from pathlib import Path

from dataqual.errors import SourceError
from dataqual.imageset import EXPANSION_FLOOR_BYTES

__all__ = ["EXPANSION_HINT", "check_expansion", "check_image_side", "expansion_limit"]

#: The hint of every refusal for expansion.
EXPANSION_HINT = (
    "a decompression bomb, or data this redundant: raise --max-expansion if it is intended"
)


def check_image_side(path: Path, shape: tuple[int, int], max_image_side: int) -> None:
    """Refuse images larger than ``max_image_side`` in either dimension."""
    if max(shape) > max_image_side:
        raise SourceError(
            path,
            f"images are {shape[0]}x{shape[1]}, larger than the limit of {max_image_side} "
            "pixels a side",
            hint="raise it with --max-image-side if this is intended",
        )


def expansion_limit(on_disk: int, max_expansion: float) -> int:
    """Most bytes ``on_disk`` compressed bytes may expand to: ``max_expansion`` per byte, but
    never less than :data:`~dataqual.imageset.EXPANSION_FLOOR_BYTES` (small sources pass)."""
    return max(EXPANSION_FLOOR_BYTES, int(max_expansion * on_disk))


def check_expansion(
    path: Path | str, what: str, expanded: int, on_disk: int, max_expansion: float
) -> None:
    """Refuse a source (a decompression bomb) whose ``what`` (e.g. ``"array 'x_train'"``)
    expands to more than :func:`expansion_limit` bytes: decided from headers, so before any
    image is allocated or decompressed."""
    if expanded <= expansion_limit(on_disk, max_expansion):
        return
    ratio = expanded / max(on_disk, 1)
    raise SourceError(
        path,
        f"{what} expands to {expanded:,} bytes from {on_disk:,} bytes on disk "
        f"({ratio:,.1f}x), more than the limit of {max_expansion:g}x "
        f"(and more than {EXPANSION_FLOOR_BYTES >> 20} MiB)",
        hint=EXPANSION_HINT,
    )
