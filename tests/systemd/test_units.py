"""The systemd units verify cleanly (any output counts as a failure) and run real subcommands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").glob("*.service"))
INSTALLED = "/opt/motcua-edge/.venv/bin/motcua"


def test_there_are_units() -> None:
    assert {u.name for u in UNITS} >= {"motcua-sync.service", "motcua-sms.service"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies_without_any_output(unit: Path, tmp_path: Path) -> None:
    motcua = Path(sys.executable).with_name("motcua")
    text = unit.read_text(encoding="utf-8").replace(INSTALLED, str(motcua))
    local = tmp_path / unit.name
    local.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(local)], capture_output=True, text=True, timeout=60
    )
    lines = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        # Only the unit under test counts: the host's own units may warn about themselves.
        if unit.name in line or "motcua" in line
    ]
    assert proc.returncode == 0 and not lines, "\n".join(lines)


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_runs_a_real_subcommand(unit: Path) -> None:
    exec_line = next(line for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    argv = exec_line.split()[1:]
    parser = build_parser()
    args = parser.parse_args(argv)
    assert callable(getattr(args, "handler", None)), exec_line
