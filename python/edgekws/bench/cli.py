"""``edgekws bench``: run the benchmark suites and write their report (``make bench``).

Each suite measures one part (MFCC, listening, golden model, learning core, extractor,
board latency) and gives its figures with a reference measured in the same run; the
report is one Markdown table per suite. A suite that fails is reported as not measured,
the others still run, and the command exits with 1::

    edgekws bench --out docs/benchmarks.md          # everything (make bench)
    edgekws bench --quick --only mfcc --out build/bench.md
"""
from __future__ import annotations

import datetime
import importlib
import os
import platform
import sys
import time

from edgekws.bench import SUITES
from edgekws.cliargs import output_file

__all__ = ["add_cli", "render", "suites_named", "FULL_REPORT", "PARTIAL_REPORT"]

#: Where a full run writes its report, and where a partial one does.
FULL_REPORT = "docs/benchmarks.md"
PARTIAL_REPORT = "build/benchmarks-partial.md"


def add_cli(sub) -> None:
    p = sub.add_parser("bench", help="run the benchmarks and write their report "
                       "(make bench)", description=__doc__)
    p.add_argument("--out", type=output_file, default=None, metavar="FILE",
                   help=f"the Markdown report to write (its folder is created; default "
                   f"{FULL_REPORT} for a full run, {PARTIAL_REPORT} with --quick or --only, "
                   "so that a partial run never replaces the full report)")
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes, for a smoke test")
    p.add_argument("--only", metavar="NAME", default=None,
                   help="run only the suites whose module name contains NAME "
                   f"(suites: {', '.join(_short(s) for s in SUITES)}; default: all)")
    p.set_defaults(func=_bench)


def _short(suite: str) -> str:
    return suite.rsplit(".", 1)[-1]


def suites_named(only: str | None) -> list[str]:
    """The suites of :data:`edgekws.bench.SUITES` whose module name contains ``only``
    (all of them for None).

    Raises
    ------
    ValueError
        No suite matches; the message lists them.
    """
    chosen = [s for s in SUITES if only is None or only in s]
    if not chosen:
        raise ValueError(f"--only {only!r} matches no suite; the suites are "
                         f"{', '.join(_short(s) for s in SUITES)}")
    return chosen


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def render(results, elapsed) -> str:
    """The Markdown report of ``results`` (``(title, rows, error)`` per suite) of a run
    that took ``elapsed`` seconds."""
    out = ["# Benchmarks", "",
           "Written by `make bench` (`edgekws bench --out docs/benchmarks.md`); "
           "every figure below was measured in that one run. Speed ratios compare against "
           "a reference measured in the same run on the same machine.", "",
           f"* date: {datetime.date.today().isoformat()}",
           f"* machine: {_machine()}",
           f"* total time: {elapsed:.0f} s", ""]
    for title, rows, error in results:
        out += [f"## {title}", ""]
        if error:
            out += [f"Not measured: {error}", ""]
            continue
        out += ["| what | value | reference | ratio | command | note |",
                "|---|---|---|---|---|---|"]
        for r in rows:
            out.append(f"| {r.what} | {r.value} | {r.reference} | {r.ratio} | "
                       f"`{r.command}` | {r.note} |")
        out.append("")
    return "\n".join(out)


def _run_suite(name: str, quick: bool, say) -> tuple:
    """``(title, rows, error)`` of one suite; a suite that raises is reported, not fatal."""
    mod = importlib.import_module(name)
    say(f"== {mod.TITLE}")
    try:
        rows, err = mod.run(quick=quick), None
    except Exception as exc:  # a broken suite is reported, the others still run
        rows, err = [], f"{type(exc).__name__}: {exc}"
        print(f"   failed: {err}", file=sys.stderr)
    for r in rows:
        say(f"   {r.what}: {r.value} {('vs ' + r.reference) if r.reference else ''} "
            f"{r.ratio}")
    return mod.TITLE, rows, err


def _bench(args) -> int:
    from edgekws.atomicio import atomic_write
    # Both checked before the first suite: a full run takes many minutes.
    chosen = suites_named(args.only)
    if args.out is None:
        args.out = PARTIAL_REPORT if args.quick or args.only else FULL_REPORT
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)

    def say(line):
        if not args.quiet:
            print(line, flush=True)

    t0 = time.time()
    results = [_run_suite(name, args.quick, say) for name in chosen]
    atomic_write(args.out, render(results, time.time() - t0).encode())
    print(f"wrote {args.out}")
    return 1 if any(err for _, _, err in results) else 0
