"""Integer list specs as in StyleGAN's CLI: "0-9,42" -> [0, 1, ..., 9, 42]."""
from __future__ import annotations

import re

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
