"""The one set of input rules, for the app, the HTTP API, the CLIs and the library alike.

Every rule raises `ValueError` with a message saying what is allowed. Nothing is clamped or
rounded silently: 3.0 (as JSON may send a whole number) is accepted as 3, 3.5 is refused;
bools, NaN, inf, strings and None are refused where a number is expected.
"""
from __future__ import annotations

import math
import numbers
import secrets
from typing import Sequence

import numpy as np

MAX_SEED = 2**32 - 1
MAX_TRUNCATION = 1.0


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
    raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}, got {value!r}")


def as_float(value: object, name: str, minimum: float, maximum: float, *, note: str = "") -> float:
    """A finite number in minimum..maximum; `note` is added to the message, e.g. what 1 means."""
    if not _is_bool(value) and isinstance(value, numbers.Real):
        number = float(value)
        if math.isfinite(number) and minimum <= number <= maximum:
            return number
    note = f" ({note})" if note else ""
    raise ValueError(f"{name} must be a number from {minimum:g} to {maximum:g}{note}, got {value!r}")


def as_digit(value: object, name: str = "digit", num_classes: int = 10) -> int:
    return as_int(value, name, 0, num_classes - 1)


def as_seed(value: object, name: str = "seed") -> int:
    return as_int(value, name, 0, MAX_SEED)


def as_truncation(value: object) -> float:
    """Truncation psi: a finite number in 0..1 (1 = no truncation)."""
    return as_float(value, "truncation_psi", 0.0, MAX_TRUNCATION, note="1 = no truncation")


def as_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if isinstance(value, str) and value in choices:
        return value
    listed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{name} must be one of {listed}, got {value!r}")


def as_digits(values: Sequence[object], num_classes: int = 10) -> list[int]:
    return [as_digit(v, num_classes=num_classes) for v in values]


def as_seeds(values: Sequence[object]) -> list[int]:
    return [as_seed(v) for v in values]


def random_seed() -> int:
    """A fresh seed from the OS's entropy source (leaves every seeded RNG alone)."""
    return secrets.randbelow(MAX_SEED + 1)


# Request limits of the app and its HTTP API.
MAX_GRID = 16                  # rows and cols of a grid, each 1..MAX_GRID
MAX_STEPS = 64                 # interpolation frames, 2..MAX_STEPS
