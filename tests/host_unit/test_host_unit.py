"""Build and run the C unit tests of lib/blehost (no boards needed)."""
from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_host_unit(tmp_path: Path) -> None:
    result = subprocess.run(
        ["make", "-C", str(HERE), f"BUILD={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "all " in output and " tests passed" in output, output
