"""gan.serving.views: a view as a link, read and written with gan.inputs' rules."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from gan.inputs import MAX_DIRECTION_STRENGTH, MAX_GRID, MAX_SEED
from gan.serving.views import TABS, VIEWS, defaults, parse_view, view_query, view_spec

DIRECTIONS = ["slant", "thickness", "width", "height"]


def test_the_issue_links_read_as_their_views():
    view = parse_view({"tab": "explore", "digit": "2", "seed": "7", "psi": "0.8", "slant": "1.5"},
                      directions=DIRECTIONS)
    assert (view.tab, view.values, view.strengths, view.problems) == (
        "explore", {"digit": 2, "seed": 7, "psi": 0.8}, {"slant": 1.5}, [])
    view = parse_view({"tab": "generate", "digit": "8", "seed": "1234", "psi": "0.7"})
    assert view.values == {"digit": 8, "seed": 1234, "psi": 0.7} and view.message() == ""


def test_a_link_without_a_view_is_none():
    assert parse_view({}) is None
    assert parse_view({"__theme": "dark"}) is None  # Gradio's own parameters are not a view


@pytest.mark.parametrize("query, fallback, allowed", [
    ({"tab": "explore", "digit": "12"}, ("digit", 2), "digit must be a whole number from 0 to 9, got 12"),
    ({"tab": "generate", "seed": "-1"}, ("seed", 42), f"seed must be a whole number from 0 to {MAX_SEED}, got -1"),
    ({"tab": "generate", "psi": "abc"}, ("psi", 1.0), "psi must be a number from 0 to 1, got 'abc'"),
    ({"tab": "generate", "psi": "nan"}, ("psi", 1.0), "psi must be a number from 0 to 1, got nan"),
    ({"tab": "grid", "rows": "17"}, ("rows", 10), f"rows must be a whole number from 1 to {MAX_GRID}, got 17"),
    ({"tab": "grid", "mode": "spiral"}, ("mode", "one digit per row (0-9)"), "mode must be one of"),
    ({"tab": "interpolate", "method": "cubic"}, ("method", "slerp"), "method must be one of 'slerp', 'lerp'"),
    ({"tab": "learn", "step": "1.5"}, ("step", None), "step must be a whole number"),
])
def test_a_bad_field_falls_back_to_its_default_and_says_what_is_allowed(query, fallback, allowed):
    view = parse_view(query, directions=DIRECTIONS)
    name, default = fallback
    assert view.values[name] == default
    assert allowed in view.message()


def test_bad_tabs_directions_and_strengths_are_named():
    view = parse_view({"tab": "nope"})
    assert view.tab == "generate" and "tab must be one of " + ", ".join(TABS) in view.message()
    view = parse_view({"tab": "explore", "curl": "1", "slant": "99"}, directions=DIRECTIONS)
    assert view.strengths == {}
    assert "'curl' is not a direction of these weights (they have slant, thickness, width, height)" in view.message()
    assert f"strength of slant must be a number from -{MAX_DIRECTION_STRENGTH:g} to {MAX_DIRECTION_STRENGTH:g}" \
        in view.message()
    view = parse_view({"tab": "generate", "slant": "1"}, directions=DIRECTIONS)
    assert "'slant' is not an input of the generate tab (it has digit, seed, psi)" in view.message()


@pytest.mark.parametrize("tab", TABS)
def test_view_query_round_trips(tab):
    values = {name: spec.default for name, spec in VIEWS[tab].items()}
    if tab == "draw":
        values["latent"] = "z1.AAAA"
    if tab == "learn":
        values["step"] = 400
    strengths = {"slant": -1.5} if tab in ("explore", "draw") else {}
    query = view_query(tab, values, strengths)
    again = parse_view(dict(parse_qsl(query)), directions=DIRECTIONS)
    assert (again.tab, again.values, again.strengths, again.problems) == (tab, values, strengths, [])


def test_view_query_refuses_what_a_link_cannot_hold():
    with pytest.raises(ValueError, match="tab must be one of"):
        view_query("train", {})
    with pytest.raises(ValueError, match="digit must be a whole number from 0 to 9"):
        view_query("generate", {"digit": 10})


def test_the_spec_for_the_page_is_the_same_rules_as_json():
    spec = json.loads(json.dumps(view_spec(DIRECTIONS)))
    assert list(spec["tabs"]) == list(TABS) and spec["directions"] == DIRECTIONS
    assert spec["tabs"]["generate"]["seed"] == {"kind": "int", "default": 42, "label": None,
                                                "minimum": 0, "maximum": MAX_SEED}
    assert spec["tabs"]["grid"]["rows"]["maximum"] == MAX_GRID
    assert spec["strength"]["maximum"] == MAX_DIRECTION_STRENGTH
    assert defaults("explore") == {"digit": 2, "seed": 7, "psi": 1.0}
