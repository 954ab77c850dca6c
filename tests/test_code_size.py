"""No function in ``python/`` over :data:`MAX_FUNCTION` lines and no ``elaborate`` over
:data:`MAX_ELABORATE`: a block of hardware or code that long is split into parts of one
purpose each (the model codebases' largest ``elaborate``: Glasgow 225 lines, amaranth
about 110). A function's length runs from its ``def`` line to its last line, docstring
and nested functions included. There is no generated Python to exempt."""
import ast
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"

MAX_FUNCTION = 150
MAX_ELABORATE = 250


def too_long(source: str, where: str) -> list[str]:
    """``"<where>:<line> <name>: <n> lines"`` for each function of ``source`` over the
    limits (an ``elaborate`` over :data:`MAX_ELABORATE`, any other function over
    :data:`MAX_FUNCTION`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            limit = MAX_ELABORATE if node.name == "elaborate" else MAX_FUNCTION
            if n > limit:
                found.append(f"{where}:{node.lineno} {node.name}: {n} lines (limit {limit})")
    return found


def _function(name: str, lines: int, indent: str = "") -> str:
    body = "".join(f"{indent}    x{k} = {k}\n" for k in range(lines - 1))
    return f"{indent}def {name}(self):\n{body}"


@pytest.mark.parametrize("name, lines, listed", [
    ("helper", MAX_FUNCTION, False),
    ("helper", MAX_FUNCTION + 1, True),
    ("elaborate", MAX_ELABORATE, False),
    ("elaborate", MAX_ELABORATE + 1, True),
])
def test_limits(name, lines, listed):
    source = "class Block:\n" + _function(name, lines, "    ")
    got = too_long(source, "block.py")
    assert got == ([f"block.py:2 {name}: {lines} lines (limit "
                    f"{MAX_ELABORATE if name == 'elaborate' else MAX_FUNCTION})"]
                   if listed else [])


def test_nested_function_listed_and_counted_in_its_parent():
    source = _function("outer", 20) + _function("inner", MAX_FUNCTION + 1, "    ")
    got = too_long(source, "f.py")
    assert [g.split(":")[1].split()[1] for g in got] == ["outer", "inner"]


def test_no_function_too_long():
    files = sorted(PYTHON_DIR.rglob("*.py"))
    # The walk must reach the package (an empty walk would pass).
    assert PYTHON_DIR / "edgekws" / "gateware" / "conv" / "extractor.py" in files
    found = [line for path in files
             for line in too_long(path.read_text(encoding="utf-8"),
                                  str(path.relative_to(PYTHON_DIR)))]
    assert not found, "split these into parts of one purpose each:\n" + "\n".join(found)
