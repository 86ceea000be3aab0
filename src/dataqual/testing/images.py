"""Image-file writers: encoded bytes of one image, and folder trees of them.

The layouts are the ones :class:`~dataqual.ingest.images.ImageFolderSource` reads:
``ROOT/<split>/<label>/<position>.<ext>`` or, for one split, ``ROOT/<label>/...``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from dataqual.testing.arrays import Data, as_images, as_labels

__all__ = ["Layout", "folder_order", "png_bytes", "write_images"]

#: ``split``: ``ROOT/<split>/<label>/``; ``class``: ``ROOT/<label>/`` (the train split only).
Layout = Literal["split", "class"]

_SUFFIX = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "WEBP": "webp"}


def png_bytes(img: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    """One uint8 ``(H, W)`` image encoded as ``fmt`` (a Pillow format name), converted to
    ``mode`` first (``"RGB"``, ``"LA"``, ...). PNGs use compression level 1."""
    out = io.BytesIO()
    image = Image.fromarray(np.asarray(img, dtype=np.uint8), mode="L")
    extra = {"compress_level": 1} if fmt == "PNG" else {}
    (image if mode == "L" else image.convert(mode)).save(out, format=fmt, **extra)
    return out.getvalue()


def write_images(root: str | Path, data: Data, layout: Layout = "split", fmt: str = "PNG") -> Path:
    """Every image of ``data`` as a file ``<label>/<position>.<ext>`` under ``ROOT/<split>``
    (``layout="split"``) or under ROOT itself (``layout="class"``: only the train split is
    written, as a class tree holds one split). Returns ``root``."""
    root = Path(root)
    suffix = _SUFFIX.get(fmt.upper(), fmt.lower())
    for split, (images, labels) in data.items():
        if layout == "class" and split != "train":
            continue
        x = as_images(images, f"{split} images")
        y = as_labels(labels, len(x), f"{split} labels")
        base = root / split if layout == "split" else root
        for label in np.unique(y):
            (base / str(int(label))).mkdir(parents=True, exist_ok=True)
        for i, (img, label) in enumerate(zip(x, y, strict=True)):
            (base / str(int(label)) / f"{i}.{suffix}").write_bytes(png_bytes(img, fmt=fmt))
    return root


def folder_order(data: Data, split: str) -> np.ndarray:
    """Row order in which the reader returns a split written by :func:`write_images`: by
    label, then by position (``2.png`` before ``10.png``)."""
    _, y = data[split]
    return np.lexsort((np.arange(len(y)), np.asarray(y)))
