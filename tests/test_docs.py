"""The documentation's promises: README.md is a front page that keeps the two set-up commands,
the reference lives in docs/, and every link, repository path and `python -m` module that
README.md, CONTRIBUTING.md and docs/*.md name exists in the checkout.

Files are only read: nothing is imported from the repository, nothing reaches the network."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 300
SETUP_COMMANDS = (
    "pip install -r requirements.txt && python app.py",
    "pip install -r requirements-dev.txt && pip install -e . && python -m pytest",
)

# A word in code that starts with one of these folders is a path of the repository...
REPO_FOLDERS = ("gan", "tests", "benchmarks", "weights", "docs", "app_tabs", ".ci")
# ... unless it is something the code writes at run time (git-ignored, not in a checkout)
GENERATED = ("benchmarks/results",)
PLACEHOLDER_MARKS = set("<>*{}[]$~") | {"..."}

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
PYTHON_M = re.compile(r"\bpython(?:3(?:\.\d+)?)?\s+-m\s+([^\s`'\")]+)")


def pages() -> list[Path]:
    return [README, ROOT / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]


def page_ids() -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in pages()]


def prose(text: str) -> str:
    """The text without its fenced code blocks and inline code (where `](x)` is no link)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def code(text: str) -> list[str]:
    """The contents of the fenced code blocks and the inline code spans."""
    blocks = [m.group(0) for m in FENCE.finditer(text)]
    return blocks + INLINE_CODE.findall(FENCE.sub("", text))


# ----------------------------------------------------------------------------- links and anchors

def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lower case, punctuation dropped,
    spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", text)):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path, text: str | None = None) -> list[str]:
    """Every relative link of a page that does not resolve to a file or folder of the
    checkout, and every anchor into a markdown page that names none of its headings."""
    text = page.read_text() if text is None else text
    problems = []
    for target in LINK.findall(prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:, ...
        path, _, anchor = target.partition("#")
        if not path:
            if anchor not in anchors(text):
                problems.append(f"{target}: no such heading on this page")
            continue
        resolved = (page.parent / path).resolve()
        if not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text()):
            problems.append(f"{target}: no heading #{anchor} in {resolved.name}")
    return problems


# ----------------------------------------------------------------------------- paths in code

def is_placeholder(word: str) -> bool:
    if any(mark in word for mark in PLACEHOLDER_MARKS):
        return True
    # OUT, DIR, NAME, RUN_DIR: a path part in capitals stands for the reader's own
    return any(part.isupper() for part in re.split(r"[/.]", word) if part)


def repo_paths(text: str) -> set[str]:
    """The words in code that name a path of the repository (e.g. gan/config.py, weights/)."""
    found = set()
    for snippet in code(text):
        for word in re.split(r"[\s,;()\"'=:`|]+", snippet):
            word = word.rstrip(".")
            if not word.startswith(tuple(f"{folder}/" for folder in REPO_FOLDERS)):
                continue
            if is_placeholder(word) or word.startswith(GENERATED):
                continue
            found.add(word)
    return found


def missing_paths(page: Path, text: str | None = None) -> list[str]:
    text = page.read_text() if text is None else text
    return sorted(p for p in repo_paths(text) if not (ROOT / p).exists())


# ----------------------------------------------------------------------------- python -m modules

def modules(text: str) -> set[str]:
    found = set()
    for name in PYTHON_M.findall(text):
        name = name.rstrip(".,;:")
        if not is_placeholder(name) and re.fullmatch(r"[A-Za-z_][\w.]*", name):
            found.add(name)
    return found


def runnable(name: str) -> bool:
    """`python -m name` would find something to run: a module, or a package with __main__."""
    parts = name.split(".")
    if (ROOT / parts[0]).is_dir() or (ROOT / f"{parts[0]}.py").is_file():
        base = ROOT.joinpath(*parts)
        return base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()
    try:
        return importlib.util.find_spec(name) is not None  # the standard library, pytest, pip
    except (ImportError, ValueError):
        return False


def missing_modules(page: Path, text: str | None = None) -> list[str]:
    text = page.read_text() if text is None else text
    return sorted(name for name in modules(text) if not runnable(name))


# ----------------------------------------------------------------------------- the tests

def test_the_readme_is_a_front_page_with_the_two_setup_commands():
    text = README.read_text()
    lines = len(text.splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: the reference goes in docs/"
    for command in SETUP_COMMANDS:
        assert command in text, f"README.md lost its set-up command: {command}"


def test_the_readme_keeps_the_space_front_matter():
    text = README.read_text()
    assert text.startswith("---\n"), "the Space reads README.md's YAML front matter: keep it first"
    front = text.split("---\n")[1]
    for key in ("sdk: gradio", "app_file: app.py", "python_version:", "sdk_version:"):
        assert key in front, key


def test_the_reference_lives_in_docs():
    chapters = sorted(p.name for p in DOCS.glob("*.md"))
    assert len(chapters) >= 3, chapters
    readme = README.read_text()
    unlinked = [name for name in chapters if f"docs/{name}" not in readme]
    assert not unlinked, f"README.md's map of docs/ misses: {unlinked}"


@pytest.mark.parametrize("page", pages(), ids=page_ids())
def test_links_resolve(page):
    problems = broken_links(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", pages(), ids=page_ids())
def test_paths_named_in_code_exist(page):
    missing = missing_paths(page)
    assert not missing, f"not in the checkout: {missing}"


@pytest.mark.parametrize("page", pages(), ids=page_ids())
def test_python_m_modules_exist(page):
    missing = missing_modules(page)
    assert not missing, f"no such module to run: {missing}"


def test_the_checks_find_what_is_broken():
    page = DOCS / "example.md"  # not written: the checks read the text given
    text = "\n".join([
        "# A chapter", "", "## Its second part", "",
        "[fine](app.md) [fine too](../README.md#quick-start) [here](#its-second-part) "
        "[web](https://example.com/x)",
        "[gone](nowhere.md) [no heading](app.md#no-such-heading) [here, wrong](#nope)",
        "`gan/config.py` `weights/` `gan/nowhere.py` `tests/app/gone.py` `python -m gan.generate`",
        "`python -m gan.nowhere` `python -m benchmarks.NAME` `python -m gan.space OUT` `runs/NAME`",
        "`gan/<command>.py` `benchmarks/results/` `python -m http.server`",
        "```bash", "python -m benchmarks.gone --out docs/missing.png  # in a block", "```",
    ])
    assert broken_links(page, text) == ["nowhere.md: no such file",
                                        "app.md#no-such-heading: no heading #no-such-heading in app.md",
                                        "#nope: no such heading on this page"]
    assert missing_paths(page, text) == ["docs/missing.png", "gan/nowhere.py", "tests/app/gone.py"]
    assert missing_modules(page, text) == ["benchmarks.gone", "gan.nowhere"]


def test_slugs_follow_github():
    assert slug("Explore: named latent directions") == "explore-named-latent-directions"
    assert slug("Where a grid's time goes") == "where-a-grids-time-goes"
    assert slug("GPU: prepared, not yet measured") == "gpu-prepared-not-yet-measured"
    assert slug("The static Space (in the browser)") == "the-static-space-in-the-browser"
