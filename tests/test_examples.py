"""The README's first example runs and prints what the README shows."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_golden_quickstart_output():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "golden_quickstart.py")],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    assert "golden == akida engine on 500 samples: True" in out
    assert "reloaded classes equal: True" in out
    readme = (ROOT / "README.md").read_text()
    for line in ("golden == akida engine on 500 samples: True", "learned neurons: "):
        assert line in readme
    learned = [l for l in out.splitlines() if l.startswith("learned neurons:")][0]
    assert learned in readme, f"README shows a stale figure; the example now prints {learned!r}"
