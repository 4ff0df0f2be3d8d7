"""The one set of input rules, for the app, the HTTP API, the CLIs and the library alike.

Every rule raises `ValueError` with a message saying what is allowed. Nothing is clamped or
rounded silently: 3.0 (as JSON may send a whole number) is accepted as 3, 3.5 is refused;
bools, NaN, inf, strings and None are refused where a number is expected.
"""
from __future__ import annotations

import json
import math
import numbers
import re
import secrets
from typing import Sequence

import numpy as np

MAX_SEED = 2**32 - 1
MAX_TRUNCATION = 1.0
TRUNCATION_NOTE = "1 = no truncation"


MAX_SHOWN = 80  # a refused value is quoted in the message up to this many characters


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """repr(value) for a message, cut to `limit` characters (a refused value may be megabytes
    of text, or nested too deeply to print)."""
    try:
        text = repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _is_bool(value: object) -> bool:
    # bool is an int subclass in Python, but True is no seed or digit.
    return isinstance(value, (bool, np.bool_))


def _whole_number(value: object) -> int | None:
    if _is_bool(value):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def as_int(value: object, name: str, minimum: int, maximum: int) -> int:
    """A whole number in minimum..maximum."""
    number = _whole_number(value)
    if number is not None and minimum <= number <= maximum:
        return number
    raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}, got {shown(value)}")


def as_float(value: object, name: str, minimum: float, maximum: float, *, note: str = "") -> float:
    """A finite number in minimum..maximum; `note` is added to the message, e.g. what 1 means."""
    if not _is_bool(value) and isinstance(value, numbers.Real):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float, e.g. 10**400
            number = math.inf
        if math.isfinite(number) and minimum <= number <= maximum:
            return number
    note = f" ({note})" if note else ""
    raise ValueError(f"{name} must be a number from {minimum:g} to {maximum:g}{note}, got {shown(value)}")


def as_digit(value: object, name: str = "digit", num_classes: int = 10) -> int:
    return as_int(value, name, 0, num_classes - 1)


def as_seed(value: object, name: str = "seed") -> int:
    return as_int(value, name, 0, MAX_SEED)


def as_truncation(value: object) -> float:
    """Truncation psi: a finite number in 0..1 (1 = no truncation)."""
    return as_float(value, "truncation_psi", 0.0, MAX_TRUNCATION, note=TRUNCATION_NOTE)


def as_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if isinstance(value, str) and value in choices:
        return value
    listed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{name} must be one of {listed}, got {shown(value)}")


def as_digits(values: Sequence[object], num_classes: int = 10) -> list[int]:
    return [as_digit(v, num_classes=num_classes) for v in values]


def random_seed() -> int:
    """A fresh seed from the OS's entropy source (leaves every seeded RNG alone)."""
    return secrets.randbelow(MAX_SEED + 1)


# Request limits of the app and its HTTP API.
MAX_GRID = 16                  # rows and cols of a grid, each 1..MAX_GRID
MIN_STEPS = 2                  # frames of an interpolation or a morph: its two ends ...
MAX_STEPS = 64                 # ... up to MAX_STEPS
AUTO_DIGIT = "auto"            # Draw: search a drawing as the digit the classifier reads

# Where the controls of the app and of the static page start, and their steps.
DEFAULT_TRUNCATION = 1.0       # psi: no truncation
TRUNCATION_STEP = 0.05         # the psi sliders' step
DEFAULT_GRID = 10              # rows and cols of a new grid
DEFAULT_STEPS = 12             # frames of a new interpolation or morph
STRENGTH_STEP = 0.1            # the direction sliders' step


def as_steps(value: object, name: str = "steps") -> int:
    """Frames of an interpolation or a morph: a whole number in MIN_STEPS..MAX_STEPS."""
    return as_int(value, name, MIN_STEPS, MAX_STEPS)


def as_search_digit(value: object, num_classes: int = 10) -> int | None:
    """The class a drawing is searched as: None for None or "auto" (the classifier's reading),
    else a digit."""
    if value is None or (isinstance(value, str) and value == AUTO_DIGIT):
        return None
    try:
        return as_digit(value, num_classes=num_classes)
    except ValueError:
        raise ValueError(f"digit must be {AUTO_DIGIT!r} or a whole number from 0 to {num_classes - 1}, "
                         f"got {shown(value)}") from None


# ----------------------------------------------------------------------------- CLI specs
# Integer lists as in StyleGAN's CLI ("0-9,42") and edits along named directions
# ("slant=1.5,thickness=-1").
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_int_spec(spec: str, *, minimum: int = 0, maximum: int | None = None,
                   name: str = "value", max_count: int = 100_000) -> list[int]:
    """Parse comma-separated integers and inclusive ranges, keeping the given order.

    Raises ValueError with the offending part for anything else: empty parts, negative
    numbers, reversed ranges, values outside [minimum, maximum], or more than max_count values.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{name} spec is empty; expected e.g. '0-9' or '1,3,5-7'")
    values: list[int] = []
    for part in spec.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ValueError(f"bad {name} spec part {part.strip()!r} in {spec!r}; "
                             "expected N or N-M with non-negative integers, e.g. '0-9,42'")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"bad {name} range {part.strip()!r}: the end is below the start")
        for bound in (lo, hi):
            if bound < minimum or (maximum is not None and bound > maximum):
                raise ValueError(f"{name} {bound} is out of range {minimum}..{maximum}")
        if len(values) + (hi - lo + 1) > max_count:
            raise ValueError(f"{name} spec {spec!r} has more than {max_count} values")
        values.extend(range(lo, hi + 1))
    return values


# ----------------------------------------------------------------------------- training runs
# Options of a training run started from the web page (the Train tab), and the names of runs.
# Bounds keep one visitor from booking the machine for days or asking for a batch that does
# not fit in memory; batches are made of groups of 4 images of one class (D's minibatch-stddev).
MIN_TRAIN_STEPS, MAX_TRAIN_STEPS = 10, 100_000
MIN_BATCH_SIZE, MAX_BATCH_SIZE = 8, 1024
MAX_TRAIN_SEED = 2**31 - 1
MAX_RUN_NAME = 80
RUN_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def as_train_steps(value: object, name: str = "steps") -> int:
    """Optimisation steps of a training run: a whole number in 10..100000."""
    return as_int(value, name, MIN_TRAIN_STEPS, MAX_TRAIN_STEPS)


def as_batch_size(value: object, name: str = "batch_size") -> int:
    """Images per training step: a multiple of 4 in 8..1024."""
    number = _whole_number(value)
    if number is not None and MIN_BATCH_SIZE <= number <= MAX_BATCH_SIZE and number % 4 == 0:
        return number
    raise ValueError(f"{name} must be a multiple of 4 from {MIN_BATCH_SIZE} to {MAX_BATCH_SIZE}, "
                     f"got {shown(value)}")


def as_train_seed(value: object, name: str = "seed") -> int:
    """The seed of a training run (weights, data order, noise): 0..2**31-1."""
    return as_int(value, name, 0, MAX_TRAIN_SEED)


def as_run_name(value: object, name: str = "run") -> str:
    """A run's folder name: letters, digits, '-' and '_', starting with a letter or digit, at
    most 80 characters. No dots or slashes, so it can never leave the runs folder."""
    if isinstance(value, str) and len(value) <= MAX_RUN_NAME and RUN_NAME_PATTERN.fullmatch(value):
        return value
    raise ValueError(f"{name} must be the name of a listed run (letters, digits, '-' and '_', "
                     f"at most {MAX_RUN_NAME} characters), got {shown(value, MAX_RUN_NAME + 2)}")


# ----------------------------------------------------------------------------- drawings
# A drawn or uploaded image for the Draw feature (see gan/drawing.py).

MAX_IMAGE_PIXELS = 4096 * 4096  # 16 Mpx: far above any canvas, small enough to refuse floods
IMAGE_CHANNELS = (1, 2, 3, 4)    # grey, grey + alpha, RGB, RGBA


def as_image_size(width: object, height: object, *, name: str = "image",
                  max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[int, int]:
    """(width, height) of an image with at least one pixel and at most `max_pixels`."""
    w, h = _whole_number(width), _whole_number(height)
    if w is None or h is None or w < 1 or h < 1:
        raise ValueError(f"{name} must be at least 1x1 pixels, got {width!r}x{height!r}")
    if w * h > max_pixels:
        raise ValueError(f"{name} is too large: {w}x{h} = {w * h:,} pixels; at most "
                         f"{max_pixels:,} are allowed (e.g. 4096x4096) — scale it down")
    return w, h


def as_image_array(value: object, *, name: str = "image",
                   max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """An image array -> uint8 (H, W, C) with C in 1..4 (grey, grey+alpha, RGB, RGBA).

    Accepted: numpy arrays (H, W) or (H, W, C), of dtype uint8, bool, or float with every
    value in 0..1 (floats are rounded to the nearest of 256 levels, far finer than the 28x28
    digit they become). Other dtypes (e.g. uint16) and float images in 0..255 are refused
    rather than guessed at.
    """
    if value is None:
        raise ValueError("Draw a digit on the canvas (or upload a picture of one) first.")
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} must be an image file (a path or its bytes), a PIL image or a numpy "
                         f"array, got {type(value).__name__}")
    if value.ndim == 2:
        value = value[:, :, None]
    if value.ndim != 3 or value.shape[2] not in IMAGE_CHANNELS:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, C) with C in 1..4, "
                         f"got shape {tuple(value.shape)}")
    as_image_size(value.shape[1], value.shape[0], name=name, max_pixels=max_pixels)
    if value.dtype == np.uint8:
        return value
    if value.dtype == np.bool_:
        return value.astype(np.uint8) * 255
    if np.issubdtype(value.dtype, np.floating):
        if not np.isfinite(value).all():
            raise ValueError(f"{name} must not contain NaN or inf")
        if value.min() < 0.0 or value.max() > 1.0:
            raise ValueError(f"a float {name} must have values from 0 to 1, got "
                             f"{float(value.min()):g} to {float(value.max()):g} "
                             "(pass uint8 for 0..255)")
        return np.rint(value * 255.0).astype(np.uint8)
    raise ValueError(f"{name} must be uint8, bool or float (0..1), got dtype {value.dtype}")


# ----------------------------------------------------------------------------- latent directions
# Strengths of the Explore tab's named directions (gan.find_directions): how far to move along each.
MAX_DIRECTION_STRENGTH = 3.0     # the sliders' ends: 3 standard deviations of the latent
MAX_STRENGTHS_TEXT = 10_000      # JSON text of strengths: a few dozen characters is plenty
STRENGTH_NOTE = "standard deviations of the latent along the direction; 0 = no change"


def as_strengths(value: object, names: Sequence[str], *, name: str = "strengths") -> dict[str, float]:
    """Direction strengths -> {direction name: strength} for every name, in the order of names.

    Accepted: a list of len(names) numbers (in that order), an object keyed by direction names
    (names left out are 0), or JSON text of either. Refused: a wrong length, an unknown name,
    anything that is no number, NaN or inf, and a strength beyond +-MAX_DIRECTION_STRENGTH.
    """
    names = list(names)
    if isinstance(value, str):
        expected = f"a list of {len(names)} numbers or an object keyed by direction name"
        if len(value) > MAX_STRENGTHS_TEXT:
            raise ValueError(f"{name} text must be JSON of at most {MAX_STRENGTHS_TEXT:,} characters "
                             f"({expected}), got {len(value):,}")
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} text must be JSON: {expected} ({exc.msg})") from None
        except RecursionError:
            raise ValueError(f"{name} text is nested too deeply: give {expected}") from None
    if isinstance(value, dict):
        unknown = [key for key in value if key not in names]
        if unknown:
            raise ValueError(f"unknown direction {shown(unknown[0])} in {name}; known: {', '.join(names)}")
        given = value
    elif isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{name} must hold {len(names)} numbers, one per direction "
                             f"({', '.join(names)}), got {len(value)}")
        given = dict(zip(names, value))
    else:
        raise ValueError(f"{name} must be a list of {len(names)} numbers, an object keyed by "
                         f"direction name, or JSON text of either, got {type(value).__name__}")
    return {key: as_float(given.get(key, 0.0), f"strength of {key!r}", -MAX_DIRECTION_STRENGTH,
                          MAX_DIRECTION_STRENGTH,
                          note=STRENGTH_NOTE) for key in names}


def parse_edit_spec(text: str, names: Sequence[str]) -> dict[str, float]:
    """"slant=1.5,thickness=-1" -> {name: strength} for every direction (absent ones: 0.0).

    Raises ValueError for a pair without '=', a name given twice, an unknown name, a value
    that is no number, NaN/inf, or a strength beyond ±MAX_DIRECTION_STRENGTH. "" means no edit.
    """
    if not isinstance(text, str):
        raise ValueError(f"an edit must be text like 'slant=1.5,thickness=-1', got {text!r}")
    given: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not name:
            raise ValueError(f"edit {part!r} must look like name=strength, e.g. slant=1.5")
        if name in given:
            raise ValueError(f"direction {name!r} is given twice in the edit")
        try:
            given[name] = float(value)
        except ValueError:
            raise ValueError(f"strength of {name!r} must be a number, got {value!r}") from None
    return as_strengths(given, names)


def format_edit_spec(strengths: dict[str, float]) -> str:
    """The non-zero strengths as an edit spec (provenance text; parse_edit_spec reads it back)."""
    return ",".join(f"{name}={float(value)!r}" for name, value in strengths.items() if value != 0)
