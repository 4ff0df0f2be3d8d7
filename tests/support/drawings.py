"""Digits drawn with PIL for the Explore and Draw tests (no MNIST needed), and PNG readers.

A drawing is made the way a visitor makes one: a few thick strokes on a 280x280 canvas, in
any of the polarities the Draw tab accepts (`STYLES`).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 280
STROKE = 18
SEVEN = [(70, 60), (210, 60), (120, 235)]      # a "7": the bar, then the long diagonal
ONE = [(150, 40), (140, 240)]                  # a "1": one slightly slanted stroke
# style -> (PIL mode, background, ink)
STYLES = {
    "sketch": ("RGBA", (0, 0, 0, 0), (0, 0, 0, 255)),     # black strokes on a transparent canvas
    "paper": ("L", 255, 0),                               # black ink on white paper
    "chalk": ("RGB", (0, 0, 0), (255, 255, 255)),         # white ink on black, as MNIST
}


def draw_strokes(points: list[tuple[int, int]], style: str = "sketch", *, size: int = CANVAS,
                 width: int = STROKE) -> Image.Image:
    """One polyline through `points` (canvas coordinates for a 280 px canvas, scaled to `size`)."""
    mode, background, ink = STYLES[style]
    image = Image.new(mode, (size, size), background)
    scale = size / CANVAS
    ImageDraw.Draw(image).line([(x * scale, y * scale) for x, y in points], fill=ink,
                               width=max(1, round(width * scale)), joint="curve")
    return image


def blank(style: str = "sketch", *, size: int = CANVAS) -> Image.Image:
    mode, background, _ = STYLES[style]
    return Image.new(mode, (size, size), background)


def speck(style: str = "paper") -> Image.Image:
    """A dot of 2x2 pixels: no digit."""
    image = blank(style)
    ImageDraw.Draw(image).rectangle([139, 139, 140, 140], fill=STYLES[style][2])
    return image


def all_ink(style: str = "paper") -> Image.Image:
    """A canvas painted over with ink but for a margin: no digit either."""
    image = blank(style)
    ImageDraw.Draw(image).rectangle([10, 10, CANVAS - 10, CANVAS - 10], fill=STYLES[style][2])
    return image


def save_png(image: Image.Image, path: Path) -> Path:
    image.save(path, format="PNG")
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def read_png(path) -> tuple[np.ndarray, dict[str, str]]:
    """(grey pixels, provenance text chunks) of a PNG the app returned."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("L")), dict(im.text)


def file_bytes(path) -> bytes:
    return Path(path).read_bytes()


# Files a visitor (or a hostile client) may upload as "a picture", each with the message it
# gets: none of them is an image that holds a digit.
BAD_UPLOADS = {
    "empty.png": "image file is empty (0 bytes)",
    "truncated.png": "image file is damaged or cut short (truncated)",
    "text.png": "image file is not an image that can be read",
    "zip.png": "image file is not an image that can be read",
    "bomb.png": "image is too large: over 178,956,970 pixels; at most 16,777,216 are allowed",
    "huge.png": "image is too large: 5000x5000 = 25,000,000 pixels",
}


def write_bad_uploads(folder: Path) -> dict[str, Path]:
    """BAD_UPLOADS' files in `folder`. The bomb is a 15,000 x 15,000 one-bit PNG of 27 kB that
    would take 225 million pixels to decode."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    seven = png_bytes(draw_strokes(SEVEN, "paper"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("digit.txt", "7" * 1000)
    contents = {"empty.png": b"", "truncated.png": seven[: len(seven) // 2],
                "text.png": b"a digit, honestly\n", "zip.png": archive.getvalue()}
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    for name, side in (("bomb.png", 15_000), ("huge.png", 5000)):
        paths[name] = folder / name
        Image.new("1", (side, side)).save(paths[name])
    return paths
