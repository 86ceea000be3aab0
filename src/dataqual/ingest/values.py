"""Source pixel values that a uint8 image cannot hold, turned into uint8 with a trace.

Shared by every reader whose source stores numbers rather than bytes (CSV text, npz and
Parquet arrays of another dtype). Nothing changes silently: each row counts what was done
to it in a defect counter that validation reports and cleaning records as a repair. Also
the names a label column goes by, the same for every reader of named columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dataqual.imageset import MISSING_LABEL

__all__ = [
    "LABEL_COLUMNS",
    "PixelValues",
    "clean_labels",
    "clean_pixel_values",
    "label_columns",
    "strings_to_float",
]

#: Names a label column goes by (case and surrounding spaces ignored), most telling first:
#: the CSV header and the Parquet schema are read with the same list.
LABEL_COLUMNS = ("label", "labels", "y", "target", "class", "digit")
_NUMBER_RE = r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$"


def label_columns(names: list[str]) -> list[int]:
    """Indexes of the columns of ``names`` named like a label, in :data:`LABEL_COLUMNS`
    order (then column order)."""
    rank = {name: i for i, name in enumerate(LABEL_COLUMNS)}
    found = [(rank[n.strip().lower()], i) for i, n in enumerate(names) if n.strip().lower() in rank]
    return [i for _, i in sorted(found)]


def strings_to_float(arrays: list[pa.Array]) -> np.ndarray:
    """Columns of cell text -> float64 (n, len(arrays)); NaN where not a number."""
    n = len(arrays[0]) if arrays else 0
    if not arrays or n == 0:
        return np.zeros((n, len(arrays)))
    flat = pa.concat_arrays(arrays)
    try:
        nums = pc.cast(flat, pa.float64())  # fast path: every cell is a plain number
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pc.utf8_trim_whitespace(flat)
        is_num = pc.match_substring_regex(text, _NUMBER_RE)
        nums = pc.cast(pc.if_else(is_num, text, pa.scalar(None, pa.string())), pa.float64())
    out = nums.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    return out.reshape(len(arrays), n).T


@dataclass(frozen=True)
class PixelValues:
    """uint8 pixels (n, P) and, per row, what it took to get them."""

    pixels: np.ndarray
    missing: np.ndarray  # int32: empty, NaN or non-numeric values (set to 0)
    out_of_range: np.ndarray  # int32: values clipped or rounded
    rescaled: np.ndarray  # int32 0/1: a float image in 0..1 scaled to 0..255
    raw_min: np.ndarray  # float64: smallest source value (NaN when a row has none)
    raw_max: np.ndarray  # float64: largest source value

    def defects(self) -> dict[str, np.ndarray]:
        """The per-row counters under their :data:`~dataqual.imageset.DEFECT_NAMES`."""
        return {
            "missing_pixels": self.missing,
            "pixels_out_of_range": self.out_of_range,
            "rescaled": self.rescaled,
        }


def clean_pixel_values(values: np.ndarray) -> PixelValues:
    """Turn source pixel values (float, NaN = missing) into uint8, counting what changed.

    ``values`` is (n, P). Non-finite values become 0 and count as missing. A row whose
    values all lie in 0..1 with at least one fraction is a float image in the unit range
    (as ``x / 255.0`` writes it): it is scaled by 255 and counted as ``rescaled``, not as out
    of range. Otherwise negative, > 255 or fractional values are clipped and rounded and
    count as out of range. Raw min/max ignore missing values (NaN when a row has none).
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    v = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore"):
        raw_min = np.where(finite, values, np.inf).min(axis=1, initial=np.inf)
        raw_max = np.where(finite, values, -np.inf).max(axis=1, initial=-np.inf)
    fractional = (finite & (v != np.rint(v))).any(axis=1)
    unit = fractional & (raw_min >= 0.0) & (raw_max <= 1.0)
    if unit.any():
        v[unit] *= 255.0
    fixed = np.clip(np.rint(v), 0.0, 255.0)
    missing = (~finite).sum(axis=1, dtype=np.int32)
    out_of_range = (finite & (fixed != v)).sum(axis=1, dtype=np.int32)
    out_of_range[unit] = 0  # rounding the scaled values is part of the rescale
    none = ~finite.any(axis=1)
    raw_min[none] = np.nan
    raw_max[none] = np.nan
    return PixelValues(
        pixels=fixed.astype(np.uint8),
        missing=missing,
        out_of_range=out_of_range,
        rescaled=unit.astype(np.int32),
        raw_min=raw_min,
        raw_max=raw_max,
    )


def clean_labels(values: np.ndarray) -> np.ndarray:
    """Labels as int64 from source values (float, NaN = missing): anything that is not a
    non-negative integer becomes :data:`MISSING_LABEL`."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(values) & (values >= 0) & (values < 2**62) & (values == np.rint(values))
    return np.where(ok, values, MISSING_LABEL).astype(np.int64)
