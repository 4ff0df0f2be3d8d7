"""gan.inputs: the one set of input rules and their messages."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan.inputs import MAX_SEED, as_choice, as_digit, as_int, as_seed, as_truncation, random_seed

# ----------------------------------------------------------------------------- input rules

@pytest.mark.parametrize("value", [0, 7, 9, np.int64(5), 3.0, np.float64(2.0)])
def test_as_digit_accepts_whole_numbers(value):
    assert as_digit(value) == int(value)
    assert type(as_digit(value)) is int


@pytest.mark.parametrize("value", [-1, 10, 3.5, True, False, np.bool_(True), math.nan, math.inf,
                                   "3", None, [3], 1e300])
def test_as_digit_refuses_with_the_allowed_range(value):
    with pytest.raises(ValueError, match=r"digit must be a whole number from 0 to 9"):
        as_digit(value)


@pytest.mark.parametrize("value", [0, MAX_SEED, float(MAX_SEED), 42])
def test_as_seed_accepts_the_full_range(value):
    assert as_seed(value) == int(value)


@pytest.mark.parametrize("value", [-1, MAX_SEED + 1, 0.5, True, math.nan, "7", None])
def test_as_seed_refuses(value):
    with pytest.raises(ValueError, match=rf"seed must be a whole number from 0 to {MAX_SEED}"):
        as_seed(value)


def test_as_int_names_the_parameter():
    with pytest.raises(ValueError, match=r"^rows must be a whole number from 1 to 16, got 17$"):
        as_int(17, "rows", 1, 16)


@pytest.mark.parametrize("value", [0, 1, 0.5, np.float32(0.25), np.float64(0.75)])
def test_as_truncation_accepts(value):
    assert as_truncation(value) == pytest.approx(float(value))
    assert type(as_truncation(value)) is float


@pytest.mark.parametrize("value", [-0.01, 1.01, math.nan, math.inf, True, "0.5", None])
def test_as_truncation_refuses(value):
    with pytest.raises(ValueError, match=r"truncation_psi must be a number from 0 to 1"):
        as_truncation(value)


def test_as_choice_lists_the_choices():
    assert as_choice("lerp", "method", ("slerp", "lerp")) == "lerp"
    with pytest.raises(ValueError, match=r"method must be one of 'slerp', 'lerp', got 'cubic'"):
        as_choice("cubic", "method", ("slerp", "lerp"))
    with pytest.raises(ValueError):
        as_choice(None, "method", ("slerp", "lerp"))


def test_random_seed_is_in_range_and_leaves_the_global_rngs_alone():
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    seeds = {random_seed() for _ in range(50)}
    assert all(0 <= s <= MAX_SEED for s in seeds) and len(seeds) > 1
    assert torch.equal(torch.random.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)


def test_a_refused_value_is_quoted_short():
    huge = "9" * 1_000_000
    with pytest.raises(ValueError) as info:
        as_seed(huge)
    message = str(info.value)
    assert message.startswith("seed must be a whole number from 0 to 4294967295, got '999")
    assert len(message) < 200 and "(1,000,002 characters)" in message
    deep: list = []
    for _ in range(100_000):  # deeper than repr can go
        deep = [deep]
    with pytest.raises(ValueError, match="got a list nested too deeply to show"):
        as_truncation(deep)


@pytest.mark.parametrize("text, message", [
    ("[" * 5000 + "]" * 5000, "strengths text is nested too deeply: give a list of 2 numbers"),
    ("[0, " + "0, " * 20_000 + "0]", "strengths text must be JSON of at most 10,000 characters"),
    ("{'slant': 1}", "strengths text must be JSON: a list of 2 numbers or an object"),
    ('{"' + "x" * 5000 + '": 1}', "unknown direction 'xxxxx"),
])
def test_strengths_text_that_is_no_edit_is_refused_clearly(text, message):
    from gan.inputs import as_strengths

    with pytest.raises(ValueError) as info:
        as_strengths(text, ["slant", "thickness"])
    assert message in str(info.value) and len(str(info.value)) < 300


def test_an_integer_beyond_any_float_is_refused_not_crashed():
    from gan.latent.codec import decode_latent

    with pytest.raises(ValueError, match="truncation_psi must be a number from 0 to 1"):
        as_truncation(10**400)
    with pytest.raises(ValueError, match="latent must hold finite numbers"):
        decode_latent([10**400] + [0.0] * 63, 64)
