"""The package's shape: rooms by role, data flowing one way (docs/architecture.md).

Every import of a project module must point to the same room or a lower one in LAYERS; inference
(vis.sound), evaluation (vis.eval) and the Python API (vis.api) never import training; no import cycles;
no module over ~360 lines.
"""

import ast
from pathlib import Path

import vis

PACKAGE = Path(vis.__file__).parent
# Lowest first: a module may import from its own room and the rooms before it, never from a later one.
LAYERS = ["vis.errors", "vis.audio", "vis.plots", "vis.data", "vis.splits", "vis.config", "vis.model", "vis.sound",
          "vis.eval", "vis.api", "vis.objective", "vis.train", "vis.train_onsets", "vis.pipeline", "vis.synth",
          "vis.demo", "vis.web", "vis.commands", "vis.cli", "vis.__main__"]
MAX_LINES = 360


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PACKAGE.rglob("*.py")):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _room(module: str) -> str:
    rooms = [r for r in LAYERS if module == r or module.startswith(r + ".")]
    return max(rooms, key=len) if rooms else f"(no room: {module})"


def _imports(path: Path) -> set[str]:
    """Project modules imported anywhere in the file (top level or inside functions), except for type checkers."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", None) == "TYPE_CHECKING" for n in ast.walk(block)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vis"):
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES  # from a package import a module
            out |= subs or {node.module}
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("vis"))
    return out


MODULES = set(_modules())


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: {i for i in _imports(p) if i in mods and i != m} for m, p in mods.items()}


def test_every_module_has_a_room():
    for m in _modules():
        if m != "vis":
            assert _room(m) in LAYERS, m


def test_imports_point_down_or_sideways():
    bad = []
    for m, deps in _graph().items():
        if m == "vis":
            continue
        for d in deps:
            if d != "vis" and LAYERS.index(_room(d)) > LAYERS.index(_room(m)):
                bad.append(f"{m} imports {d}")
    assert not bad, bad


def test_inference_and_evaluation_import_nothing_from_training():
    for m, deps in _graph().items():
        if _room(m) in ("vis.sound", "vis.eval", "vis.api"):
            assert not {d for d in deps if _room(d) in ("vis.train", "vis.train_onsets", "vis.pipeline")}, m


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in graph.get(m, ()):
            assert state.get(d) != 1, " -> ".join(path + [m, d])
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_modules_read_in_one_sitting():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, long
