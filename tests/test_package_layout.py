"""The package stands on its own: read with ``ast`` (nothing is imported), the modules
of ``python/edgekws`` import each other without loops, import nothing from the
repository's other folders (``sim/``, ``tests/``, ...), and never edit ``sys.path``."""
import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "python" / "edgekws"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict:
    """Module name -> parsed tree, for every ``.py`` file of the package."""
    return {module_name(p): ast.parse(p.read_text(), str(p))
            for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str, mods: dict) -> bool:
    return (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()


def imported(node, module: str, mods: dict) -> list:
    """The modules an ``import``/``from ... import`` statement of ``module`` needs: for
    ``from X import y``, ``X.y`` when it is a module, and ``X`` itself when some ``y``
    is not (a name ``X``'s ``__init__`` must have defined). The parent packages that
    Python initialises on the way are left out: they are partly initialised already
    when one of their own modules imports a sibling."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = module.split(".")
        if not _is_package(module, mods):
            base = base[:-1]
        base = base[:len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module
    subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
    return subs + ([target] if len(subs) < len(node.names) else [])


def _statements(body):
    """The statements run when a module is imported: its top level, including the
    bodies of top-level ``if``/``try``/``with`` and class bodies, not functions."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _statements(inner)


def module_level_graph(mods: dict) -> dict:
    graph = {}
    for name, tree in mods.items():
        deps = set()
        for node in _statements(tree.body):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps.update(d for d in imported(node, name, mods) if d in mods and d != name)
        graph[name] = deps
    return graph


def cycles(graph: dict) -> list:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph)))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def test_cycle_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_relative_imports_resolve():
    mods = {"edgekws.fpga.board": None, "edgekws.fpga.flow": None, "edgekws.fpga": None,
            "edgekws.golden.ops": None}
    tree = ast.parse("from .flow import summarise\nfrom ..golden import ops\n"
                     "from . import flow\n")
    got = [imported(n, "edgekws.fpga.board", mods) for n in tree.body]
    assert got == [["edgekws.fpga.flow"], ["edgekws.golden.ops"], ["edgekws.fpga.flow"]]
    tree = ast.parse("from edgekws.golden import ops, Model\nimport edgekws.fpga.flow\n")
    got = [imported(n, "edgekws.fpga.board", mods) for n in tree.body]
    assert got == [["edgekws.golden.ops", "edgekws.golden"], ["edgekws.fpga.flow"]]


def test_no_import_loops_between_modules():
    mods = modules()
    graph = module_level_graph(mods)
    assert "edgekws.fpga.flow" in graph["edgekws.fpga.board"]   # the graph sees imports
    assert cycles(graph) == []


def _outside_names() -> set:
    """Top-level import names that would reach out of the package into the repository:
    its folders and the modules of its test, simulation and example folders."""
    names = {p.name for p in REPO.iterdir() if p.is_dir() and not p.name.startswith(".")}
    for folder in ("sim", "tests", "examples"):
        names.update(p.stem for p in (REPO / folder).glob("*.py"))
    names.discard("python")   # not importable: the package's own parent folder
    return names - {"edgekws"}


def test_the_package_imports_nothing_from_the_repository():
    outside = _outside_names()
    assert {"sim", "fpga", "tests", "test_fc_core", "streams"} <= outside
    bad = []
    for name, tree in modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                tops = [node.module.split(".")[0]]
            else:
                continue
            bad += [f"{name}:{node.lineno} imports {t}" for t in tops if t in outside]
    assert bad == []


def test_the_package_leaves_sys_path_alone():
    bad = [f"{name}:{node.lineno}" for name, tree in modules().items()
           for node in ast.walk(tree)
           if isinstance(node, ast.Attribute) and node.attr == "path"
           and isinstance(node.value, ast.Name) and node.value.id == "sys"]
    bad += [f"{name}:{node.lineno}" for name, tree in modules().items()
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "addsitedir"]
    assert bad == []


@pytest.mark.parametrize("folder", ["fpga", "sim"])
def test_top_level_folders_hold_no_package_code(folder):
    """``fpga/`` keeps board notes only and ``sim/`` one ``test_<block>.py`` per hardware
    block (its cocotb testbench and the pytest tests that run it) and ``streams.py``,
    the stream source and sink they share: the code the package runs lives in the
    package."""
    allowed = (lambda p: p.name.startswith("test_") or p.name == "streams.py")
    stray = [p.name for p in (REPO / folder).glob("*.py") if not allowed(p)]
    assert stray == []


def test_no_loops_between_subpackages():
    """Counting imports inside functions too, the sub-packages (``edgekws.tune``,
    ``edgekws.tutorial``, ...) depend on each other one way. The command-line modules
    (``*.cli``) are the top layer, which may import any sub-package."""
    mods = modules()
    top = lambda name: ".".join(name.split(".")[:2])   # noqa: E731
    graph = {top(name): set() for name in mods}
    for name, tree in mods.items():
        if name.endswith(".cli") or name == "edgekws.cli":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[top(name)].update(top(d) for d in imported(node, name, mods)
                                        if d in mods and top(d) != top(name))
    # The one loop left (not part of the package move): the Keras readers of convert/
    # use train.model, and train's pipeline converts its result.
    assert cycles(graph) == [["edgekws.convert", "edgekws.train"]]
