"""The documentation's links and references hold: relative Markdown links reach a file
(and a heading, for ``#anchor``), every ``docs/design....md §N`` reference anywhere in the
tree names a file holding section N, the docs carry no issue numbers, and the committed
generated Verilog is marked generated for reviews."""
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = sorted((REPO / "docs").rglob("*.md")) + [REPO / "README.md", REPO / "fpga" / "README.md"]


def slugs(markdown: str) -> set:
    """GitHub's anchors of the headings: lower case, punctuation dropped (``-`` and
    ``_`` kept), spaces to ``-``, ``-1``, ``-2`` ... for repeated ones. Headings inside
    fenced code are not headings."""
    seen, out, fence = Counter(), set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fence = not fence
        if fence or not re.match(r"#{1,6} ", line):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        out.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return out


def test_slugs():
    text = ("# 3.6 FPGA resources and latency (ECP5-85F)\n## `Board.infer`, again\n"
            "## Notes\n## Notes\n```\n# not a heading\n```\n")
    assert slugs(text) == {"36-fpga-resources-and-latency-ecp5-85f", "boardinfer-again",
                           "notes", "notes-1"}


def links(markdown: str) -> list:
    """The relative link targets ``[text](target)`` outside fenced code."""
    body = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return [t for t in re.findall(r"\]\(([^)\s]+)\)", body)
            if not re.match(r"[a-z]+:", t)]


def test_links():
    assert links("[a](b.md#c) [d](https://x.org) [e](#f)\n```\n[g](h.md)\n```\n") == \
        ["b.md#c", "#f"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc):
    text = doc.read_text()
    broken = []
    for target in links(text):
        path, _, anchor = target.partition("#")
        dest = (doc.parent / path).resolve() if path else doc
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in slugs(dest.read_text()):
            broken.append(target)
    assert broken == []


def table_errors(markdown: str) -> list:
    """Tables whose delimiter row has another number of cells than their header (GitHub
    then shows them as text): ``(line, header cells, delimiter cells)``."""
    lines = markdown.splitlines()
    delimiter = re.compile(r"^\|(\s*:?-+:?\s*\|)+$")
    return [(i + 1, lines[i - 1].count("|"), lines[i].count("|"))
            for i in range(1, len(lines))
            if delimiter.match(lines[i]) and lines[i - 1].startswith("|")
            and lines[i - 1].count("|") != lines[i].count("|")]


def test_table_errors():
    assert table_errors("| a | b |\n|---|---:|\n| 1 | 2 |") == []
    assert table_errors("text\n| a | b |\n|---|---:|---:|\n") == [(3, 3, 4)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_tables_have_as_many_columns_as_their_header(doc):
    assert table_errors(doc.read_text()) == []


#: ``docs/design.md §3.6``, ``docs/design/fc-core.md`` §1.2 (a comment may wrap
#: between the two).
DESIGN_REF = re.compile(r"(docs/design(?:/[\w-]+)?\.md)`*\s*(?:#:?\s*)?§(\d+(?:\.\d+)?)")


def sections(markdown: str) -> set:
    """The section numbers of the headings: ``## 3.6 ...`` -> ``3.6``."""
    return set(re.findall(r"^#{1,6} (\d+(?:\.\d+)?)\.? ", markdown, flags=re.M))


def test_design_ref_pattern():
    text = "(docs/design/fc-core.md §1.2) ``docs/design.md``\n    # §6 docs/design.md, §3"
    assert DESIGN_REF.findall(text) == [("docs/design/fc-core.md", "1.2"),
                                        ("docs/design.md", "6")]


def test_design_section_references_point_at_the_part_holding_them():
    """The design note is split by part; a reference to one of its sections names the
    file that holds it (``docs/design.md`` holds §0 only)."""
    files = [p for folder in ("python", "tests", "docs", "sim", "fpga")
             for p in (REPO / folder).rglob("*") if p.suffix in (".py", ".md")]
    found, wrong = 0, []
    for path in files + [REPO / "README.md", REPO / "Makefile"]:
        if path == Path(__file__).resolve():
            continue   # its examples
        for target, section in DESIGN_REF.findall(path.read_text()):
            found += 1
            if section not in sections((REPO / target).read_text()):
                wrong.append(f"{path.relative_to(REPO)}: {target} §{section}")
    assert found >= 20
    assert wrong == []


#: "issue 7", "Issues 6 and 7", "#19"; not an anchor such as ``(fc-core.md#12-interface)``.
ISSUE = re.compile(r"\bissues? #?\d+|(?<![\w/(.#-])#\d+\b", flags=re.I)


def test_issue_pattern():
    hits = [s for s in ("as issue 7 asks", "Issues 6 and 7", "fixed in #19.",
                        "[x](a.md#12-interface)", "(#36-fpga)", "C# 4") if ISSUE.search(s)]
    assert hits == ["as issue 7 asks", "Issues 6 and 7", "fixed in #19."]


def test_no_issue_numbers_in_the_docs():
    hits = [f"{doc.relative_to(REPO)}:{n}: {line.strip()}" for doc in DOCS
            for n, line in enumerate(doc.read_text().splitlines(), 1) if ISSUE.search(line)]
    assert hits == []


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                    reason="needs a git checkout")
def test_generated_verilog_is_marked_generated():
    """Every ``rtl/*.v`` is ``linguist-generated`` (folded in reviews) and keeps its
    diff (no ``-diff``): a change of the generated design can still be read."""
    verilog = sorted(p.name for p in (REPO / "rtl").glob("*.v"))
    assert "edgekws_board.v" in verilog
    out = subprocess.run(["git", "check-attr", "linguist-generated", "diff", "--",
                          *(f"rtl/{v}" for v in verilog), "rtl/tb/board_smoke.sv"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    attrs = {}
    for line in out.splitlines():
        path, attr, value = line.rsplit(": ", 2)
        attrs[path, attr] = value
    assert {v: attrs[f"rtl/{v}", "linguist-generated"] for v in verilog} == \
        {v: "true" for v in verilog}
    assert {v: attrs[f"rtl/{v}", "diff"] for v in verilog} == \
        {v: "unspecified" for v in verilog}
    assert attrs["rtl/tb/board_smoke.sv", "linguist-generated"] == "unspecified"


def named_paths(markdown: str) -> list:
    """The repository paths written in backticks (``python/...``, ``tests/...``,
    ``sim/...``, ``rtl/...``; a pytest node id counts as its file), patterns left out."""
    out = []
    for token in re.findall(r"`([^`\s]+)`", markdown):
        path = token.split("::")[0]
        if re.match(r"(python|tests|sim|rtl)/", path) and not re.search(r"[*<>\[{|]", path):
            out.append(path)
    return out


def test_named_paths():
    assert named_paths("`rtl/dscnn_*.v` `tests/a.py::test_b` `python/x/` `build/y`") == \
        ["tests/a.py", "python/x/"]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_paths_named_in_the_docs_exist(doc):
    """A moved or renamed file leaves no stale path in the docs."""
    assert [p for p in named_paths(doc.read_text()) if not (REPO / p).exists()] == []
