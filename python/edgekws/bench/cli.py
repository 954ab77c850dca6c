"""``python -m edgekws.bench --out docs/benchmarks.md``."""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys
import time

from edgekws.bench import SUITES


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
    out = ["# Benchmarks", "",
           "Written by `make bench` (`python -m edgekws.bench --out docs/benchmarks.md`); "
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="docs/benchmarks.md")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke test")
    p.add_argument("--only", help="run only suites whose module name contains this")
    args = p.parse_args(argv)
    t0 = time.time()
    results = []
    for name in SUITES:
        if args.only and args.only not in name:
            continue
        mod = importlib.import_module(name)
        print(f"== {mod.TITLE}", flush=True)
        try:
            rows = mod.run(quick=args.quick)
            err = None
        except Exception as exc:  # a broken suite is reported, the others still run
            rows, err = [], f"{type(exc).__name__}: {exc}"
            print(f"   failed: {err}", file=sys.stderr)
        for r in rows:
            print(f"   {r.what}: {r.value} {('vs ' + r.reference) if r.reference else ''} "
                  f"{r.ratio}", flush=True)
        results.append((mod.TITLE, rows, err))
    text = render(results, time.time() - t0)
    from edgekws.golden.fileformat import atomic_write
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    atomic_write(args.out, text.encode())
    print(f"wrote {args.out}")
    return 1 if any(err for _, _, err in results) else 0


if __name__ == "__main__":
    sys.exit(main())
