"""``docs/architecture.md`` stays true to the code.

* its package map lists every folder of ``python/edgekws`` and every top-level module,
  and each row's "may import" cells equal the imports measured with ``ast`` (imports
  inside functions included; the folder's ``cli.py``/``__main__.py`` in a column of
  their own);
* every ``edgekws.module.name`` it names exists (looked up in the module's ``ast``:
  nothing is imported), and every path it names exists.

When a test here fails, the message says which row or name to update: a renamed or
moved function, a new import between folders, a new folder.
"""
import ast
import re
from pathlib import Path

import pytest
from test_package_layout import PACKAGE, REPO, imported, modules

DOC = REPO / "docs" / "architecture.md"
CLI_MODULES = ("cli", "__main__")


def unit_of(module: str) -> str:
    """The map's name of the place ``module`` lives in: its folder relative to the
    package (``gateware.conv``), or for the package's top-level modules the module
    itself (``protocol``; ``__init__`` for ``edgekws`` itself)."""
    path = PACKAGE.parent / module.replace(".", "/")
    folder = module if (path / "__init__.py").is_file() else module.rsplit(".", 1)[0]
    if folder != "edgekws":
        return folder[len("edgekws."):]
    return "__init__" if module == "edgekws" else module[len("edgekws."):]


def module_imports(mods: dict) -> dict:
    """Module name -> the places (:func:`unit_of`) its imports reach, anywhere in it."""
    out = {}
    for name, tree in mods.items():
        out[name] = {unit_of(d) for node in ast.walk(tree)
                     if isinstance(node, (ast.Import, ast.ImportFrom))
                     for d in imported(node, name, mods) if d in mods}
    return out


def measured_imports(members: set, deps: dict) -> tuple:
    """``(library, cli)``: the places the modules of ``members`` import (``deps`` from
    :func:`module_imports`), the command-line modules' extra ones apart."""
    lib, cli = set(), set()
    for name, reached in deps.items():
        if unit_of(name) in members:
            is_cli = name.rsplit(".", 1)[-1] in CLI_MODULES
            (cli if is_cli else lib).update(reached - members)
    return lib, cli - lib


def _ticked(cell: str) -> list:
    return re.findall(r"`([^`]+)`", cell)


def _member(token: str) -> str:
    """``edgekws/gateware/conv/`` -> ``gateware.conv``; ``edgekws/protocol.py`` ->
    ``protocol``."""
    if not token.startswith("edgekws/"):
        raise ValueError(f"a map row names {token!r}, not a path under edgekws/")
    rest = token[len("edgekws/"):]
    if rest.endswith("/"):
        return rest.rstrip("/").replace("/", ".")
    if rest.endswith(".py") and "/" not in rest:
        return rest[:-3]
    raise ValueError(f"a map row names {token!r}: a folder (ending in /) or a top-level "
                     "module (.py) is expected")


def map_rows(text: str) -> list:
    """``(members, library imports, cli imports)`` of each row of the package map: the
    table rows whose first cell names ``edgekws/...``."""
    rows = []
    for line in text.splitlines():
        # Cells split at the pipes that are not escaped (``\\|`` inside a cell).
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not line.startswith("| `edgekws/") or len(cells) != 4:
            continue
        members = {_member(t) for t in _ticked(cells[0])}
        rows.append((members, set(_ticked(cells[2])), set(_ticked(cells[3]))))
    return rows


def package_folders() -> set:
    return {".".join(p.relative_to(PACKAGE).parts) for p in PACKAGE.rglob("*")
            if p.is_dir() and "__pycache__" not in p.parts}


def top_level_modules() -> set:
    return {"__init__" if p.stem == "__init__" else p.stem for p in PACKAGE.glob("*.py")}


@pytest.fixture(scope="module")
def doc_text():
    return DOC.read_text()


@pytest.fixture(scope="module")
def rows(doc_text):
    rows = map_rows(doc_text)
    assert len(rows) >= 10, "docs/architecture.md: the package map was not found"
    return rows


def test_map_row_parser():
    text = ("| `edgekws/golden/` | golden model | `protocol`, `limits` | — |\n"
            "| `edgekws/cli.py`, `edgekws/__main__.py` | the command | — | `cliargs` |\n"
            "| `edgekws/fpga/` | `fpga build a\\|b` | `gateware` | — |\n"
            "| not a row | | | |\n")
    assert map_rows(text) == [({"golden"}, {"protocol", "limits"}, set()),
                              ({"cli", "__main__"}, set(), {"cliargs"}),
                              ({"fpga"}, {"gateware"}, set())]
    with pytest.raises(ValueError, match="'edgekws/x.txt'"):
        map_rows("| `edgekws/x.txt` | | | |\n")


def test_units_and_measured_imports():
    assert unit_of("edgekws.gateware.conv.extractor") == "gateware.conv"
    assert unit_of("edgekws.gateware.conv") == "gateware.conv"
    assert unit_of("edgekws.protocol") == "protocol"
    assert unit_of("edgekws") == "__init__"
    deps = module_imports(modules())
    lib, cli = measured_imports({"gateware"}, deps)
    assert "protocol" in lib and "gateware.conv" in lib and "gateware" not in lib
    lib, cli = measured_imports({"host"}, deps)
    assert "cliargs" in cli and "cliargs" not in lib   # only host/cli.py uses it


def test_every_folder_and_top_level_module_is_on_the_map(rows):
    listed = set().union(*(members for members, _, _ in rows))
    folders, tops = package_folders(), top_level_modules()
    assert "gateware.conv" in folders and "protocol" in tops
    assert sorted(folders - listed) == [], "folders missing from docs/architecture.md"
    assert sorted(tops - listed) == [], "top-level modules missing from the map"
    assert sorted(listed - folders - tops) == [], "the map lists what does not exist"


def test_may_import_equals_the_measured_imports(rows):
    deps = module_imports(modules())
    wrong = []
    for members, lib, cli in rows:
        got_lib, got_cli = measured_imports(members, deps)
        if (lib, cli) != (got_lib, got_cli):
            wrong.append(f"{sorted(members)}: the map says {sorted(lib)} / cli "
                         f"{sorted(cli)}, the code imports {sorted(got_lib)} / cli "
                         f"{sorted(got_cli)}")
    assert wrong == [], "update the rows of docs/architecture.md:\n" + "\n".join(wrong)


def _module_file(module: str) -> Path | None:
    base = PACKAGE.parent / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _lookup(body: list, names: list) -> bool:
    """``names`` (a qualified name split at dots) defined in the statements ``body``:
    classes, functions, and (last) names assigned at that level."""
    if not names:
        return True
    head, rest = names[0], names[1:]
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.name == head:
            return _lookup(node.body, rest) if isinstance(node, ast.ClassDef) else not rest
        if not rest and isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == head for t in targets):
                return True
    return False


def resolves(dotted: str) -> bool:
    """Whether ``edgekws.a.b.Name.method`` exists: the longest prefix that is a module
    of the package, then the rest defined in it."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(".".join(parts[:cut]))
        if path is not None:
            return _lookup(ast.parse(path.read_text()).body, parts[cut:])
    return False


def test_resolver():
    assert resolves("edgekws.protocol.encode_packet")
    assert resolves("edgekws.host.board.Board.infer")
    assert resolves("edgekws.gateware.conv")
    assert resolves("edgekws.protocol.DEFAULT_BAUDRATE")
    assert not resolves("edgekws.host.board.Board.no_such_method")
    assert not resolves("edgekws.no_such_module.f")
    assert not resolves("edgekws.protocol.encode_packet.inner")


def named(text: str) -> tuple:
    """``(dotted names, paths)`` written in backticks."""
    ticked = re.findall(r"`([^`\s]+)`", text)
    names = sorted({t for t in ticked if re.fullmatch(r"edgekws(\.[A-Za-z_]\w*)+", t)})
    paths = sorted({t for t in ticked if "/" in t and re.fullmatch(r"[\w./-]+", t)})
    return names, paths


def test_named_functions_exist(doc_text):
    names, _ = named(doc_text)
    assert len(names) >= 40, "docs/architecture.md: few names found; parsing broke?"
    missing = [n for n in names if not resolves(n)]
    assert missing == [], ("docs/architecture.md names what the code no longer has "
                           "(renamed or moved?)")


def test_named_paths_exist(doc_text):
    _, paths = named(doc_text)
    assert "python/edgekws/host/cli.py" in paths
    missing = [p for p in paths
               if not (REPO / p).exists() and not (REPO / "python" / p).exists()]
    assert missing == [], "docs/architecture.md names paths that do not exist"
