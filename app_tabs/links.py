"""A view is a link: `/?tab=generate&digit=8&seed=1234&psi=0.7` opens that tab with those
inputs, and "Link to this view" gives the link to what is on screen (the address bar follows).

The vocabulary, defaults, limits and messages are gan.serving.views' (the static page reads the
same from site.json). A link with bad values opens with the message and the bad fields at
their defaults. Each tab registers its inputs here under the views' field names.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from gan.serving.service import DigitService
from gan.serving.views import STEERED_TABS, VIEWS, parse_view, view_query

from .widgets import PRIVATE

# The link's query made absolute by the page, and shown in the address bar too.
TO_ADDRESS_BAR = ("(query) => { if (!query) return ''; const url = new URL(query, window.location.href);"
                  " history.replaceState(null, '', url); return url.href; }")


@dataclass
class TabFields:
    tab: gr.Tab
    fields: dict[str, gr.components.Component]
    strengths: list[gr.components.Component] = field(default_factory=list)  # direction slots, in order
    after_open: dict | None = None  # an event (fn, inputs, outputs) that draws what a set value alone does not


class LinkFields:
    """The tabs' link inputs, registered by the tab builders (`add`), read by `build_links`."""

    def __init__(self):
        self.tabs: dict[str, TabFields] = {}

    def add(self, name: str, tab: gr.Tab, strengths=(), after_open: dict | None = None,
            **fields: gr.components.Component) -> None:
        if set(fields) != set(VIEWS[name]):
            raise ValueError(f"the {name} tab registers {sorted(fields)}, its views have {sorted(VIEWS[name])}")
        self.tabs[name] = TabFields(tab, fields, list(strengths), after_open)

    def components(self) -> list[gr.components.Component]:
        """Every registered input, in a fixed order (tab by tab, fields, then strengths)."""
        return [c for name in self.tabs for c in (*self.tabs[name].fields.values(), *self.tabs[name].strengths)]

    def slots(self) -> list[tuple[str, str | int]]:
        """What each of `components()` is: (tab, field name) or (tab, direction slot number)."""
        return [(name, key) for name, registered in self.tabs.items()
                for key in (*registered.fields, *range(len(registered.strengths)))]


class LinkHandlers:
    def __init__(self, service: DigitService, links: LinkFields):
        self.service, self.links = service, links

    def _directions(self) -> list[str]:
        try:
            return list(self.service.latent_directions().names)
        except ValueError:
            return []

    def open(self, request: gr.Request):
        """Page load: the view the URL's query names (the tab selected, its inputs set), and the
        message for a link with bad values; nothing changes without a view in the query."""
        query = dict(getattr(request, "query_params", None) or {})
        view = parse_view(query, directions=self._directions())
        if view is None:
            return [gr.skip(), gr.skip(), gr.Markdown(visible=False), *[gr.skip()] * len(self.links.slots())]
        names = self._directions()
        updates = []
        for tab, key in self.links.slots():
            if tab != view.tab or (isinstance(key, str) and view.values.get(key) is None):
                updates.append(gr.skip())
            elif isinstance(key, str):
                updates.append(view.values[key])
            else:  # a direction slot: the link's strength for the direction shown there, else 0
                updates.append(view.strengths.get(names[key], 0.0) if key < len(names) else 0.0)
        message = view.message()
        return [gr.Tabs(selected=view.tab), view.tab, gr.Markdown(f"**{message}**", visible=bool(message)),
                *updates]

    def link(self, tab: str, *values) -> str:
        """The query of the view on screen (`?tab=...`); the page makes it absolute."""
        tab = tab if tab in self.links.tabs else "generate"
        names, fields, strengths = self._directions(), {}, {}
        for (owner, key), value in zip(self.links.slots(), values, strict=True):
            if owner != tab or value in (None, ""):
                continue
            if isinstance(key, str):
                fields[key] = value
            elif tab in STEERED_TABS and key < len(names) and value:
                strengths[names[key]] = float(value)
        try:
            return "?" + view_query(tab, fields, strengths)
        except ValueError as exc:  # an input the page holds that no link can (e.g. a half-typed value)
            gr.Warning(f"No link for this view: {exc}")
            return ""


@dataclass
class LinkRow:
    share: gr.Button
    address: gr.Textbox
    problem: gr.Markdown
    current: gr.State  # the tab on screen


def build_link_row() -> LinkRow:
    """The link row, above the tabs: a button, the link it makes, and a bad link's message."""
    with gr.Row(equal_height=True):
        share = gr.Button("Link to this view", scale=0, min_width=160, size="sm", elem_id="link-button")
        address = gr.Textbox(show_label=False, placeholder="press the button for a link to what is on screen",
                             buttons=["copy"], interactive=False, elem_id="link-text", scale=4)
    problem = gr.Markdown(visible=False, elem_id="link-problem")
    return LinkRow(share, address, problem, gr.State("generate"))


def wire_links(handlers: LinkHandlers, row: LinkRow, tabs: gr.Tabs) -> tuple[dict, list[dict]]:
    """(the page-load event that opens a link's view, to run before the tabs draw; the events
    that draw what the opened values alone do not)."""
    links = handlers.links
    for name, registered in links.tabs.items():
        registered.tab.select(lambda name=name: name, outputs=row.current, queue=False, **PRIVATE)
    row.share.click(handlers.link, inputs=[row.current, *links.components()], outputs=row.address,
                    **PRIVATE).then(None, inputs=row.address, outputs=row.address, js=TO_ADDRESS_BAR, **PRIVATE)
    opened = {"fn": handlers.open, "outputs": [tabs, row.current, row.problem, *links.components()]}
    return opened, [r.after_open for r in links.tabs.values() if r.after_open]
