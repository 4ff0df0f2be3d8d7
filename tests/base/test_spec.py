"""Integer list specs ('0-9', '1,3,5-7') for digits and seeds."""
import pytest

from gan.inputs import parse_int_spec


@pytest.mark.parametrize("spec, expected", [
    ("0-9", list(range(10))),
    ("1,3,5-7", [1, 3, 5, 6, 7]),
    ("7", [7]),
    ("9,0-2,5", [9, 0, 1, 2, 5]),      # order kept
    ("3,3", [3, 3]),                   # repeats kept
    ("4-4", [4]),
    (" 1, 2 ", [1, 2]),                # spaces around parts
    ("0-0", [0]),
])
def test_parses(spec, expected):
    assert parse_int_spec(spec, maximum=9) == expected


@pytest.mark.parametrize("spec, match", [
    ("", "empty"),
    ("   ", "empty"),
    ("3-1", "end is below the start"),
    ("-1", "bad digit spec part '-1'"),
    ("a", "bad digit spec part 'a'"),
    ("1,,2", "bad digit spec part ''"),
    ("1,", "bad digit spec part ''"),
    ("1-2-3", "bad digit spec part"),
    ("1.5", "bad digit spec part"),
    ("10", r"digit 10 is out of range 0\.\.9"),
    ("5-12", r"digit 12 is out of range 0\.\.9"),
])
def test_rejects_with_the_offending_part(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_int_spec(spec, maximum=9, name="digit")


def test_not_a_string():
    with pytest.raises(ValueError, match="empty"):
        parse_int_spec(None)  # type: ignore[arg-type]


def test_minimum_and_unbounded_maximum():
    assert parse_int_spec("4000000000") == [4_000_000_000]
    with pytest.raises(ValueError, match="out of range 2"):
        parse_int_spec("1-3", minimum=2)


def test_too_many_values():
    assert len(parse_int_spec("0-99", max_count=100)) == 100
    with pytest.raises(ValueError, match="more than 100 values"):
        parse_int_spec("0-100", max_count=100)
    with pytest.raises(ValueError, match="more than 100 values"):
        parse_int_spec("0-60,0-60", max_count=100)
    # a huge range is refused up front, not materialised
    with pytest.raises(ValueError, match="more than"):
        parse_int_spec("0-999999999999", max_count=1000)
