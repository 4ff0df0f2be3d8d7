"""A view is a link in the app: `/?tab=...` opens that view (handlers directly, then Chromium),
bad values open with the message, and "Link to this view" gives the link to what is shown."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

import app
from app_tabs.links import LinkFields, LinkHandlers
from gan.serving.views import VIEWS, parse_view
from tests.support.processes import REPO_ROOT

SHIPPED = REPO_ROOT / "weights"


@pytest.fixture(scope="module")
def demo_links():
    """The app's link handlers on the shipped weights (their directions are named)."""
    demo = app.build_demo(SHIPPED, auto_reload_s=None)
    handlers = next(fn.fn.__self__ for fn in demo.fns.values()
                    if getattr(fn.fn, "__self__", None).__class__ is LinkHandlers)
    return handlers


def request(**query):
    return SimpleNamespace(query_params=query)


def test_every_view_tab_registers_exactly_its_fields(demo_links):
    assert set(demo_links.links.tabs) == set(VIEWS)
    for name, registered in demo_links.links.tabs.items():
        assert list(registered.fields) and set(registered.fields) == set(VIEWS[name])
    with pytest.raises(ValueError, match="registers"):
        LinkFields().add("generate", tab=None, digit=None)


def _set(handlers, updates):
    """{(tab, field): value} of what `open` sets."""
    tabs, current, message, *values = updates
    named = [(tab, name) for tab, r in handlers.links.tabs.items()
             for name in (*r.fields, *(f"strength {i}" for i in range(len(r.strengths))))]
    return tabs, current, message, {key: v for key, v in zip(named, values, strict=True)
                                    if not isinstance(v, type(gr.skip()))}


def test_a_link_opens_its_tab_with_its_values(demo_links):
    tabs, current, message, values = _set(demo_links, demo_links.open(
        request(tab="generate", digit="8", seed="1234", psi="0.7")))
    assert tabs.selected == "generate" and current == "generate" and not message.visible
    assert values == {("generate", "digit"): 8, ("generate", "seed"): 1234, ("generate", "psi"): 0.7}


def test_an_explore_link_sets_the_named_strength_on_its_slider(demo_links):
    names = list(demo_links.service.latent_directions().names)
    tabs, current, message, values = _set(demo_links, demo_links.open(
        request(tab="explore", digit="2", seed="7", psi="0.8", slant="1.5")))
    assert values[("explore", f"strength {names.index('slant')}")] == 1.5
    assert values[("explore", "digit")] == 2 and values[("explore", "psi")] == 0.8


def test_a_hostile_link_opens_with_the_message_and_defaults(demo_links):
    query = {"tab": "explore", "digit": "12", "seed": "-1", "psi": "abc", "slant": "99", "curl": "1"}
    tabs, current, message, values = _set(demo_links, demo_links.open(request(**query)))
    expected = parse_view(query, directions=list(demo_links.service.latent_directions().names))
    assert message.visible and expected.message() in message.value
    assert values[("explore", "digit")] == 2 and values[("explore", "seed")] == 7
    tabs, current, message, values = _set(demo_links, demo_links.open(request(tab="nope")))
    assert tabs.selected == "generate" and "tab must be one of" in message.value


def test_no_view_in_the_query_changes_nothing(demo_links):
    tabs, current, message, values = _set(demo_links, demo_links.open(request(__theme="dark")))
    assert values == {} and not message.visible


def test_link_to_this_view_round_trips(demo_links):
    components = demo_links.links.components()
    values = [None] * len(components)
    tab = demo_links.links.tabs["interpolate"]
    start = components.index(next(iter(tab.fields.values())))
    values[start: start + len(tab.fields)] = [3, 1, 8, 2, 12, "lerp", 0.5]
    query = demo_links.link("interpolate", *values)
    assert query == "?tab=interpolate&digit_a=3&seed_a=1&digit_b=8&seed_b=2&steps=12&method=lerp&psi=0.5"


@pytest.mark.slow
@pytest.mark.browser
def test_the_app_opened_at_a_link_shows_that_digit():
    from tests.support.browser import browser_page, fetch_png, image_src, launched, tab_selected

    with launched(SHIPPED) as url:
        with browser_page(url.rstrip("/") + "/?tab=generate&digit=8&seed=1234&psi=0.7") as page:
            page.wait_for_function("() => { const img = document.querySelector('#digit-image img');"
                                   " return img && img.src.includes('digit8_seed1234'); }")
            _, meta = fetch_png(page, image_src(page, "digit-image"))
            assert (meta["digit"], meta["seed"], meta["truncation_psi"]) == ("8", "1234", "0.7")
            assert tab_selected(page, "generate")
            page.locator("#link-button").click()
            page.wait_for_function("() => document.querySelector('#link-text textarea, #link-text input')"
                                   ".value.includes('tab=generate')")
            link = page.locator("#link-text textarea, #link-text input").first.input_value()
            assert link.endswith("/?tab=generate&digit=8&seed=1234&psi=0.7") and page.url == link
            assert page.errors == [] and page.blocked == []
        with browser_page(url.rstrip("/") + "/?tab=grid&rows=99&mode=spiral") as page:
            page.locator("#link-problem").get_by_text("rows must be a whole number from 1 to 16").wait_for()
            assert tab_selected(page, "grid")
            assert page.errors == []
