"""A drawn or uploaded digit -> a 28x28 MNIST-style image, made the way MNIST's were.

MNIST's digits were made from scanned handwriting by (LeCun et al.): scaling the ink's
bounding box to fit a 20x20 box with its aspect ratio kept (anti-aliased, hence grey
levels), then placing it in a 28x28 field so that the centre of mass of the ink lies at the
centre. On the MNIST test set the centre of mass sits at pixel (14.0, 14.0) on average
(rows and columns counted from 0) with a spread of 0.3 px, i.e. an integer shift; this
module does the same, so a drawing looks to the generator and the classifier like the
digits they learnt from.

Any polarity is accepted: white ink on black (MNIST), black ink on white (paper), or
strokes on a transparent canvas (a sketchpad's RGBA). Canvases that hold no digit (empty,
a speck, all ink) are refused with a `DrawingError` that says what to do. An image file (a
path or its bytes) is opened here, under the size rule: its size is read from its header and
refused before any pixel is decoded, and a file that is empty, no image or cut short is told
so.
"""
from __future__ import annotations

import io
import math
import os
import zlib

import numpy as np
from PIL import Image

from ..inputs import MAX_IMAGE_PIXELS, as_image_array, as_image_size

DIGIT_BOX = 20               # the ink's bounding box is scaled to fit 20x20 ...
FIELD = 28                   # ... inside a 28x28 field
CENTRE = 14.0                # where MNIST's centre of mass lies (pixel index, row and column)
WORKING_SIDE = 1024          # larger images are box-averaged down to about this first
MIN_CONTRAST = 0.15          # ink this close to the background colour is no ink
NOISE_FLOOR = 0.10           # ink below this (of full contrast) is paper grain or JPEG noise
BOX_THRESHOLD = 0.25         # the bounding box is that of ink above this
MIN_DIGIT_FRACTION = 0.05    # a digit smaller than 5% of the canvas side is a speck
MIN_DIGIT_PIXELS = 3         # ... and so is one under 3 pixels
MAX_INK_FRACTION = 0.5       # more than half the canvas in ink is no digit
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # RGB -> grey (ITU-R 601 luma, as Pillow's "L")


class DrawingError(ValueError):
    """The image holds no digit that can be read (empty, a speck, all ink)."""


IMAGE_FILE_FORMATS = "PNG, JPEG, GIF, BMP, WebP or TIFF"


def _channels_of(image: Image.Image) -> np.ndarray:
    """A PIL image's pixels as RGBA when it has transparency, else RGB (uint8)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if has_alpha else "RGB"))


def read_image_file(source: str | os.PathLike | bytes, *, max_pixels: int = MAX_IMAGE_PIXELS,
                    name: str = "image") -> np.ndarray:
    """An image file (a path, or the file's bytes) -> uint8 (H, W, 3 or 4).

    ValueError, saying what is wrong and what is allowed, for an empty file, a file that is
    no image Pillow reads (text, a zip, ...), one of more than `max_pixels` pixels (refused
    from its header, before decoding: a decompression bomb never unpacks) and one that is
    damaged or cut short."""
    allowed = f"upload a {IMAGE_FILE_FORMATS} file of a digit"
    if isinstance(source, (bytes, bytearray, memoryview)):
        empty, opened = len(source) == 0, io.BytesIO(bytes(source))
    else:
        try:
            empty, opened = os.path.getsize(source) == 0, source
        except OSError as exc:
            raise ValueError(f"{name} file cannot be read ({exc.strerror or exc}): {allowed}") from None
    if empty:
        raise ValueError(f"{name} file is empty (0 bytes): {allowed}")
    try:
        image = Image.open(opened)
    except Image.DecompressionBombError:
        # Pillow's own guard, far above ours, stopped it while reading the header
        raise ValueError(f"{name} is too large: over {2 * Image.MAX_IMAGE_PIXELS:,} pixels; at most "
                         f"{max_pixels:,} are allowed (e.g. 4096x4096) — scale it down") from None
    except (OSError, SyntaxError, ValueError):  # UnidentifiedImageError is an OSError
        raise ValueError(f"{name} file is not an image that can be read: {allowed}") from None
    with image:
        as_image_size(image.width, image.height, name=name, max_pixels=max_pixels)
        try:
            image.load()
            return _channels_of(image)
        except (OSError, SyntaxError, ValueError, EOFError, zlib.error):
            raise ValueError(f"{name} file is damaged or cut short (truncated): its pixels cannot be "
                             f"decoded; {allowed}") from None


def _as_uint8_channels(image: object, max_pixels: int) -> np.ndarray:
    """An image file, PIL image or array -> uint8 (H, W, C), C in 1..4; sizes checked before
    any pixel is decoded or copied."""
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)):
        image = read_image_file(image, max_pixels=max_pixels)
    elif isinstance(image, Image.Image):
        as_image_size(image.width, image.height, max_pixels=max_pixels)
        image = _channels_of(image)
    elif hasattr(image, "detach") and hasattr(image, "numpy"):  # a torch tensor, without importing torch
        image = image.detach().cpu().numpy()
    return as_image_array(image, max_pixels=max_pixels)


def _shrink(pixels: np.ndarray) -> np.ndarray:
    """Box-average a large image down by an integer factor: the result becomes 20 px tall
    anyway, and this keeps the float work below to about a megapixel."""
    factor = math.ceil(max(pixels.shape[:2]) / WORKING_SIDE)
    if factor <= 1:
        return pixels
    channels = [np.asarray(Image.fromarray(pixels[:, :, c]).reduce(factor))
                for c in range(pixels.shape[2])]
    return np.stack(channels, axis=2)


def _border(values: np.ndarray) -> np.ndarray:
    return np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])


def extract_ink(pixels: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) -> ink in 0..1 (H, W): 1 = full ink, 0 = background.

    With an alpha channel and a transparent border, the strokes are whatever is opaque,
    whatever their colour. Otherwise the background is the border's typical (median) grey
    level: a light border means dark ink on light paper. Ink is measured from that level,
    so grey paper or a grey canvas count as background, and scaled so the strongest ink is 1.
    """
    values = pixels.astype(np.float32) / 255.0
    channels = values.shape[2]
    if channels in (2, 4) and np.median(_border(values[:, :, -1])) < 0.5:
        ink = values[:, :, -1]
    else:
        colour = values[:, :, :3] if channels >= 3 else values[:, :, :1]
        grey = colour @ np.array(GREY_WEIGHTS, np.float32) if channels >= 3 else colour[:, :, 0]
        background = float(np.median(_border(grey)))
        ink = (grey - background) / max(1.0 - background, 1e-6) if background < 0.5 \
            else (background - grey) / max(background, 1e-6)
    ink = np.clip(ink, 0.0, None)
    strongest = float(ink.max())
    if strongest < MIN_CONTRAST:
        raise DrawingError("the canvas is empty (one flat colour, no strokes) — draw a digit")
    ink = ink / strongest
    ink[ink < NOISE_FLOOR] = 0.0
    return ink


def _ink_box(ink: np.ndarray) -> tuple[slice, slice]:
    """The bounding box of the ink, refusing canvases that hold no readable digit."""
    strong = ink > BOX_THRESHOLD
    covered = float((ink > 0.5).mean())
    if covered > MAX_INK_FRACTION:
        raise DrawingError(f"the ink covers {covered:.0%} of the canvas — that is no digit; "
                           "clear the canvas and draw one digit")
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    if len(rows) == 0:
        raise DrawingError("the canvas is empty — draw a digit")
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    smallest = max(MIN_DIGIT_PIXELS, MIN_DIGIT_FRACTION * max(ink.shape))
    if max(height, width) < smallest:
        raise DrawingError(f"the drawing is a tiny speck ({width}x{height} pixels on a "
                           f"{ink.shape[1]}x{ink.shape[0]} canvas) — draw a larger digit")
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def fit_digit_box(ink: np.ndarray) -> np.ndarray:
    """Crop the ink's bounding box and scale it (anti-aliased) so its longer side is 20 px,
    keeping the aspect ratio: float (h, w) with max(h, w) = 20."""
    box = ink[_ink_box(ink)]
    height, width = box.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # PIL wants (w, h)
    # PIL widens the filter when shrinking, so this averages rather than samples (no
    # aliasing). Bilinear came closest to MNIST when remaking test digits from binarised
    # 8x enlargements of them (bicubic, Lanczos and box were within 3% of it).
    fitted = np.clip(np.asarray(Image.fromarray(box.astype(np.float32))
                                .resize(size, Image.Resampling.BILINEAR)), 0.0, 1.0)
    # Every MNIST digit reaches full ink (254-255); a thin pen on a large canvas shrinks to
    # faint grey strokes, so the strongest pixel is brought back to full ink.
    return fitted / max(float(fitted.max()), 1e-6)


def centre_by_mass(patch: np.ndarray) -> np.ndarray:
    """Place a (h, w) patch (h, w <= 28) in a 28x28 field with its centre of mass at
    (14, 14), rounded to whole pixels as in MNIST. Where that would push ink off the field
    (a very lopsided digit), the patch stops at the edge: losing ink would be worse than
    being a pixel off centre."""
    height, width = patch.shape
    mass = float(patch.sum())
    com_y = float((patch.sum(axis=1) * np.arange(height)).sum()) / mass
    com_x = float((patch.sum(axis=0) * np.arange(width)).sum()) / mass
    top = min(max(round(CENTRE - com_y), 0), FIELD - height)
    left = min(max(round(CENTRE - com_x), 0), FIELD - width)
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top: top + height, left: left + width] = patch
    return field


def prepare_drawing(image: object, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Any drawn or uploaded digit -> uint8 (28, 28), 0 = background, 255 = ink, as MNIST.

    `image`: an image file (a path or its bytes), a PIL image, or an array (H, W) / (H, W, C)
    with C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA), uint8, bool or float in 0..1;
    white ink on black, black ink on white, or strokes on a transparent background. Raises
    `DrawingError` (a ValueError) for an empty canvas, a speck or an all-ink canvas, and
    ValueError for images over `max_pixels` pixels, of an unusable shape or dtype, and for
    files that are empty, no image or damaged (see `read_image_file`).
    """
    pixels = _shrink(_as_uint8_channels(image, max_pixels))
    field = centre_by_mass(fit_digit_box(extract_ink(pixels)))
    return np.rint(field * 255.0).astype(np.uint8)
