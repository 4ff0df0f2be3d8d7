"""A view as a link: which tab, and its inputs, in the one vocabulary both front-ends share.

The Gradio app reads a view from its URL's query (`/?tab=generate&digit=8&seed=1234&psi=0.7`)
and the static page from its hash (`index.html#tab=explore&digit=2&seed=7&psi=0.8&slant=1.5`);
both check every field with the rules of gan.inputs (the page through `view_spec`, which the
static export writes into site.json), so a seed means the same digit in either.

A link with bad values still opens: each bad field falls back to its default, and the
problems say what is allowed (`ParsedView.problems`). Directions are named (`slant=1.5`) in
Explore and Draw; each strength is within ±MAX_DIRECTION_STRENGTH.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence
from urllib.parse import urlencode

from ..inputs import (
    MAX_DIRECTION_STRENGTH,
    MAX_GRID,
    MAX_SEED,
    MAX_STEPS,
    MAX_TRUNCATION,
    as_choice,
    as_float,
    as_int,
    shown,
)
from ..model.sampling import INTERPOLATION_METHODS
from .render import GRID_MODES

MAX_STEP = 10**9  # a training step in a link: whole and non-negative (the timeline refuses what it lacks)
MAX_LATENT_TEXT = 2_000  # a latent's text (gan.latent.codec) is 347 characters for z_dim 64


@dataclass(frozen=True)
class Field:
    """One input of a view: its kind, default and limits (what `check` enforces)."""
    kind: str  # "int", "float", "choice" or "latent"
    default: object
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""  # the name in messages, when it is not the field's own (psi -> truncation_psi)

    def check(self, name: str, text: str) -> object:
        """The field's value from a link's text; ValueError saying what is allowed."""
        label = self.label or name
        if self.kind == "int":
            return as_int(_number(text), label, int(self.minimum), int(self.maximum))
        if self.kind == "float":
            return as_float(_number(text), label, self.minimum, self.maximum)
        if self.kind == "choice":
            return as_choice(text, label, self.choices)
        if not isinstance(text, str) or not 0 < len(text) <= MAX_LATENT_TEXT:
            raise ValueError(f"{label} must be a latent's text (from Draw's latent box) of at most "
                             f"{MAX_LATENT_TEXT} characters, got {shown(text)}")
        return text  # decoded and checked (gan.latent.codec) where it is used

    def to_json(self) -> dict:
        spec = {"kind": self.kind, "default": self.default, "label": self.label or None}
        if self.kind in ("int", "float"):
            spec.update(minimum=self.minimum, maximum=self.maximum)
        if self.kind == "choice":
            spec["choices"] = list(self.choices)
        return spec


def _number(text: object) -> object:
    """A link's text as the number it spells, else the text itself (which the rule refuses)."""
    if not isinstance(text, str):
        return text
    for parse in (int, float):
        try:
            return parse(text.strip())
        except ValueError:
            continue
    return text


def _digit(default: int) -> Field:
    return Field("int", default, 0, 9)


def _seed(default: int) -> Field:
    return Field("int", default, 0, MAX_SEED)


PSI = Field("float", 1.0, 0.0, MAX_TRUNCATION)  # truncation_psi; "psi" in links, as people write it

# Every tab a link can open, and its fields with the defaults the tabs open with.
VIEWS: dict[str, dict[str, Field]] = {
    "generate": {"digit": _digit(3), "seed": _seed(42), "psi": PSI},
    "grid": {"rows": Field("int", 10, 1, MAX_GRID), "cols": Field("int", 10, 1, MAX_GRID),
             "mode": Field("choice", GRID_MODES[0], choices=GRID_MODES), "digit": _digit(7),
             "seed": _seed(0), "psi": PSI},
    "interpolate": {"digit_a": _digit(3), "seed_a": _seed(1), "digit_b": _digit(8), "seed_b": _seed(2),
                    "steps": Field("int", 12, 2, MAX_STEPS),
                    "method": Field("choice", "slerp", choices=INTERPOLATION_METHODS), "psi": PSI},
    "explore": {"digit": _digit(2), "seed": _seed(7), "psi": PSI},
    "draw": {"latent": Field("latent", None), "psi": PSI},
    "learn": {"step": Field("int", None, 0, MAX_STEP)},
}
TABS = tuple(VIEWS)
STEERED_TABS = ("explore", "draw")  # their links also name direction strengths: slant=1.5
STRENGTH = Field("float", 0.0, -MAX_DIRECTION_STRENGTH, MAX_DIRECTION_STRENGTH)


@dataclass
class ParsedView:
    """A view read from a link: every field of its tab (defaults where the link had none or a
    bad value), the direction strengths it named, and what was wrong with it."""
    tab: str
    values: dict[str, object]
    strengths: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def message(self) -> str:
        """One message for the page, or '' when the link was fine."""
        if not self.problems:
            return ""
        return "This link had values the demo cannot show, so defaults stand in: " + "; ".join(self.problems)


def defaults(tab: str) -> dict[str, object]:
    return {name: spec.default for name, spec in VIEWS[tab].items()}


def parse_view(query: Mapping[str, str], *, directions: Sequence[str] = ()) -> ParsedView | None:
    """The view a link's parameters describe, or None when they name no view (no tab and no
    field of any tab). `directions`: the served weights' direction names."""
    query = {str(k): v for k, v in query.items()}
    if not query.keys() & ({"tab"} | {name for fields in VIEWS.values() for name in fields}):
        return None
    problems = []
    tab = query.pop("tab", "generate")
    if tab not in VIEWS:
        problems.append(f"tab must be one of {', '.join(TABS)}, got {shown(tab)}")
        tab = "generate"
    values, strengths = defaults(tab), {}
    for name, text in query.items():
        if name in VIEWS[tab]:
            values[name] = _checked(VIEWS[tab][name].check, name, text, values[name], problems)
        elif tab in STEERED_TABS and name in directions:
            strengths[name] = _checked(STRENGTH.check, f"strength of {name}", text, 0.0, problems)
        elif tab in STEERED_TABS:
            problems.append(f"{shown(name)} is not a direction of these weights (they have "
                            f"{', '.join(directions) or 'none'})")
        else:
            problems.append(f"{shown(name)} is not an input of the {tab} tab (it has "
                            f"{', '.join(VIEWS[tab])})")
    return ParsedView(tab, values, {k: v for k, v in strengths.items() if v}, problems)


def _checked(check: Callable[[str, str], object], name: str, text: str, default: object,
             problems: list[str]) -> object:
    try:
        return check(name, text)
    except ValueError as exc:
        problems.append(str(exc))
        return default


def view_query(tab: str, values: Mapping[str, object], strengths: Mapping[str, float] | None = None) -> str:
    """The link parameters of a view (`tab=...&digit=...`): its tab's fields that have a value,
    then the non-zero strengths by name; ValueError for a tab or value a link cannot hold."""
    if tab not in VIEWS:
        raise ValueError(f"tab must be one of {', '.join(TABS)}, got {shown(tab)}")
    pairs = [("tab", tab)]
    for name, spec in VIEWS[tab].items():
        value = values.get(name, spec.default)
        if value is not None:
            spec.check(name, _text(value))
            pairs.append((name, _text(value)))
    for name, strength in (strengths or {}).items():
        if tab in STEERED_TABS and strength:
            STRENGTH.check(f"strength of {name}", _text(strength))
            pairs.append((name, _text(strength)))
    return urlencode(pairs)


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return f"{value:g}" if abs(value) < 1e6 else str(int(value))
    return str(value)


def view_spec(directions: Sequence[str] = ()) -> dict:
    """The views as JSON for the static page (site.json): the same tabs, fields, defaults and
    limits, and the directions a link may name."""
    return {"tabs": {tab: {name: spec.to_json() for name, spec in fields.items()} for tab, fields in VIEWS.items()},
            "steered_tabs": list(STEERED_TABS), "strength": STRENGTH.to_json(), "directions": list(directions)}
