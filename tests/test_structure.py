"""The code's shape: gan/ is layered by role and imports point down the layers only; no
module or package cycles; files and functions as long as one concern needs, within bounds.
Everything is read with `ast`; nothing is imported."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

# The layers, bottom up. A module may import modules of a lower layer and modules of its own
# package; never one of a higher layer, nor a package beside it in the same layer.
BASE = {"gan.config", "gan.files", "gan.images", "gan.inputs", "gan.runtime", "gan.data"}
LAYERS = {
    "base": 0,
    "gan.model": 1,
    "gan.measure": 2,
    "gan.training": 3, "gan.latent": 3,
    "gan.serving": 4, "gan.runs": 4,
    "cli": 5,  # the user-facing commands: python -m gan.generate, gan.evaluate, ...
}
CLI = {"gan.generate", "gan.evaluate", "gan.find_directions", "gan.train_classifier", "gan.measure_morphology",
       "gan.train_encoder", "gan.space"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def gan_modules() -> dict[str, Path]:
    """Every module under gan/, subpackages included (gan/__init__ too)."""
    return {module_name(p): p for p in sorted((ROOT / "gan").rglob("*.py"))}


def package_of(module: str) -> str:
    """The layer unit a module belongs to: 'base', 'cli', or its subpackage."""
    if module in BASE:
        return "base"
    if module in CLI or module.startswith("gan.space."):
        return "cli"
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else module


def resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    """The absolute gan module names an ImportFrom names, relative ones at any level."""
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[:len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def gan_imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The gan modules a module imports, at any depth of the file (lazy imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.update(name for name in resolve(module, path, node) if name in known)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = gan_modules()
    known = set(modules)
    return {name: gan_imports(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for child in sorted(graph.get(node, ())):
            if state.get(child) == 1:
                return path[path.index(child):] + [child] if child in path else [node, child]
            if state.get(child) is None:
                cycle = visit(child, path + [child])
                if cycle:
                    return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if state.get(start) is None:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in sorted(graph.items()):
        if module == "gan":
            continue  # the package's lazy __init__ names modules as strings only
        own = package_of(module)
        for target in sorted(imported):
            other = package_of(target)
            if target == "gan" or other == own:
                continue
            if LAYERS[other] > LAYERS[own]:
                problems.append(f"{module} imports {target}: upward ({own} -> {other})")
            elif LAYERS[other] == LAYERS[own]:
                problems.append(f"{module} imports {target}: sideways ({own} -> {other})")
    return problems


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_layer_check_finds_upward_and_sideways_imports():
    graph = {"gan.model.networks": {"gan.serving.service"}, "gan.latent.inversion": {"gan.training.loop"},
             "gan.serving.service": {"gan.latent.codec", "gan.inputs", "gan.serving.render"}}
    assert layer_violations(graph) == [
        "gan.latent.inversion imports gan.training.loop: sideways (gan.latent -> gan.training)",
        "gan.model.networks imports gan.serving.service: upward (gan.model -> gan.serving)"]


def test_relative_imports_resolve_at_any_level():
    path = ROOT / "gan" / "latent" / "inversion.py"
    two_up = ast.parse("from ..model.sampling import latents_from_seeds").body[0]
    assert resolve("gan.latent.inversion", path, two_up)[0] == "gan.model.sampling"
    here = ast.parse("from .codec import encode_latent").body[0]
    assert resolve("gan.latent.inversion", path, here)[0] == "gan.latent.codec"


def test_every_gan_module_has_a_layer():
    for module in gan_modules():
        if module != "gan":
            assert package_of(module) in LAYERS, f"{module} belongs to no layer: add it to LAYERS"


def test_no_module_cycles():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_no_package_cycles():
    packages: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        if module != "gan":
            packages.setdefault(package_of(module), set()).update(
                package_of(t) for t in imported if t != "gan" and package_of(t) != package_of(module))
    cycle = find_cycle(packages)
    assert cycle is None, f"package cycle: {' -> '.join(cycle)}"


def test_imports_point_down_the_layers():
    problems = layer_violations(import_graph())
    assert not problems, "\n".join(problems)


def test_library_does_not_import_the_ui():
    for name, path in gan_modules().items():
        tree = ast.parse(path.read_text())
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
        assert not names & {"gradio", "app", "app_tabs"}, name


def source_files() -> list[Path]:
    return [*sorted((ROOT / "gan").rglob("*.py")), ROOT / "app.py", ROOT / "train.py",
            *sorted((ROOT / "app_tabs").glob("*.py"))]


def test_files_stay_readable():
    long = {p.relative_to(ROOT).as_posix(): n for p in source_files()
            if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES}
    assert not long, f"over {MAX_FILE_LINES} lines: {long}"


def test_functions_stay_readable():
    long = {}
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}:{node.name}"] = lines
    assert not long, f"over {MAX_FUNCTION_LINES} lines: {long}"


def architecture_layout() -> str:
    """docs/architecture.md: the layers and the package layout, a line for every module."""
    return (ROOT / "docs" / "architecture.md").read_text()


def test_the_architecture_chapter_names_every_module():
    layout = architecture_layout()
    named = set(re.findall(r"`([\w/]+\.py)`", layout))
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gan").rglob("*.py")}
    missing = sorted(f for f in files if f not in named and f.removeprefix("gan/") not in named)
    assert not missing, f"docs/architecture.md does not name: {missing}"
    stale = sorted(n for n in named if n.startswith("gan/") and not (ROOT / n).is_file())
    assert not stale, f"docs/architecture.md names files that do not exist: {stale}"
