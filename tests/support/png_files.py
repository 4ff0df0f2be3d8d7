"""Reading back the PNG files the app writes: pixels and provenance text chunks."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def text_chunks(path: Path) -> dict[str, str]:
    with Image.open(path) as im:
        return dict(im.text)
