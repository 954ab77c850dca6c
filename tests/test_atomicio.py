"""Atomic writes keep the target's mode and symlink, clean stale temporaries, sync the folder."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import pytest

from edgekws import atomicio
from edgekws.atomicio import atomic_write, remove_stale_temporaries


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_the_target_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "state.ekws"
    path.write_bytes(b"old")
    path.chmod(mode)
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_new_file_gets_the_umask_mode(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "n.bin", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "n.bin").stat().st_mode) == 0o640


def test_a_symlinked_target_stays_a_symlink_and_the_real_file_is_written(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    real = real_dir / "board.ekws"
    real.write_bytes(b"old")
    real.chmod(0o600)
    link = tmp_path / "board.ekws"
    link.symlink_to(os.path.relpath(real, tmp_path))
    atomic_write(link, b"new")
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "board.ekws")
    assert real.read_bytes() == b"new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert sorted(os.listdir(real_dir)) == ["board.ekws"], "the temporary sits by the real file"


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "s.ekws"
    link.symlink_to(tmp_path / "target.ekws")
    atomic_write(link, b"data")
    assert link.is_symlink() and (tmp_path / "target.ekws").read_bytes() == b"data"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    path = tmp_path / "state.ekws"
    dead = tmp_path / f".state.ekws.{_dead_pid()}.abcd1234.tmp"
    live = tmp_path / f".state.ekws.{os.getppid()}.efgh5678.tmp"   # a concurrent writer
    old_style = tmp_path / ".state.ekws.k2j4h5g6.tmp"              # before pids, recent
    ancient = tmp_path / ".state.ekws.zzzz9999.tmp"                # before pids, a day old
    other = tmp_path / f".other.ekws.{_dead_pid()}.abcd1234.tmp"   # another target's
    for p in (dead, live, old_style, ancient, other):
        p.write_bytes(b"partial")
    day_ago = time.time() - atomicio.STALE_SECONDS - 60
    os.utime(ancient, (day_ago, day_ago))
    atomic_write(path, b"new")
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(["state.ekws", live.name, old_style.name, other.name])
    assert remove_stale_temporaries(path) == []


def test_a_killed_writer_leaves_a_temporary_that_the_next_write_removes(tmp_path):
    path = tmp_path / "m.bin"
    code = ("import os, sys; from edgekws.atomicio import atomic_write\n"
            "def writer(f):\n    f.write(b'half'); f.flush(); os.kill(os.getpid(), 9)\n"
            f"atomic_write({str(path)!r}, writer)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", code], env=env)
    assert proc.returncode == -9
    assert not path.exists()
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) == 1
    atomic_write(path, b"whole")
    assert os.listdir(tmp_path) == ["m.bin"] and path.read_bytes() == b"whole"


def test_the_folder_is_synced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        st = os.fstat(fd)
        synced.append(("dir" if stat.S_ISDIR(st.st_mode) else "file",
                       os.path.exists(tmp_path / "f.bin")))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write(tmp_path / "f.bin", b"x")
    assert synced == [("file", False), ("dir", True)]
