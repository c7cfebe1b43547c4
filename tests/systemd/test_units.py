"""The systemd units: they verify without any output, score ≤ 3.5 in ``systemd-analyze security``, carry
the hardening the appliance relies on, run real subcommands, and every role's units exist.

``systemd-analyze`` comes with ``make test-deps`` (package systemd); these tests are never skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.cli import build_parser
from provisioning.units import DEVICE_UNITS, REFERENCE_BIN, ROLE_UNITS, TIMER_DRIVEN, render

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "systemd").glob("motcua-*"))
SERVICES = [u for u in UNITS if u.suffix == ".service"]
TIMERS = [u for u in UNITS if u.suffix == ".timer"]
DAEMONS = [u for u in SERVICES if u.name not in TIMER_DRIVEN]
MAX_EXPOSURE = 3.5


def directives(unit: Path) -> dict[str, list[str]]:
    """Key → every value it is given (comments and sections left out)."""
    out: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def local_copies(tmp_path: Path) -> Path:
    """The units with ExecStart pointing at this checkout's motcua (verify needs the binary to exist)."""
    motcua = Path(sys.executable).with_name("motcua")
    assert motcua.exists(), motcua
    for unit in UNITS:
        (tmp_path / unit.name).write_text(
            render(unit.read_text(encoding="utf-8"), str(motcua)), encoding="utf-8"
        )
    return tmp_path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120, check=False)


def test_every_role_has_its_units() -> None:
    assert {u.name for u in UNITS} >= set(DEVICE_UNITS) | {"motcua-central.service"}
    assert {u.name for u in TIMERS} == {"motcua-doctor.timer", "motcua-backup.timer"}
    for role, units in ROLE_UNITS.items():
        assert "motcua-sync.service" in units and "motcua-health.service" in units, role


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_unit_verifies_without_any_output(unit: Path, tmp_path: Path) -> None:
    local = local_copies(tmp_path) / unit.name  # a timer is verified beside the service it starts
    proc = run("systemd-analyze", "verify", "--man=no", str(local))
    # Only our units count: the host's own units may warn about themselves.
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "motcua" in line]
    assert proc.returncode == 0 and not lines, "\n".join(lines)


def test_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    local = local_copies(tmp_path) / "motcua-sync.service"
    local.write_text(local.read_text().replace("UMask=0077", "UMask=0077\nProtectSystems=strict"))
    proc = run("systemd-analyze", "verify", "--man=no", str(local))
    assert "ProtectSystems" in proc.stdout + proc.stderr  # exit code 0, but said: hence "any output"


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_exposure_is_at_most_3_5(unit: Path, tmp_path: Path) -> None:
    local = local_copies(tmp_path) / unit.name
    proc = run("systemd-analyze", "security", "--offline=yes", "--no-pager", str(local))
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout[-500:] + proc.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, proc.stdout


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_hardening(unit: Path) -> None:
    d = directives(unit)
    for key, value in {
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "DevicePolicy": "closed",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert d.get(key) == [value], f"{unit.name}: {key}={d.get(key)}"
    assert d["StateDirectory"], unit.name
    if unit.name in TIMER_DRIVEN:
        assert d["Type"] == ["oneshot"] and "Restart" not in d
        return
    assert d["RestartPreventExitStatus"] == ["2"], "a configuration error (exit 2) must stop restarts"
    assert d["StartLimitBurst"] and d["StartLimitIntervalSec"] and d["Restart"][0] in ("on-failure", "always")


def test_sms_gateway_reaches_the_modem_only_and_has_a_watchdog() -> None:
    d = directives(ROOT / "systemd/motcua-sms.service")
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"] and int(d["WatchdogSec"][0]) > 0
    assert d["DeviceAllow"] == ["char-ttyUSB rw", "char-ttyACM rw"]
    assert "PrivateDevices" not in d  # it would hide the modem
    assert d["SupplementaryGroups"] == ["dialout"] and d["User"] == ["motcua"]


def test_kiosk_draws_on_the_console_and_restarts_on_a_crash() -> None:
    d = directives(ROOT / "systemd/motcua-kiosk.service")
    assert "SDL_VIDEODRIVER=kmsdrm" in d["Environment"] and "KIVY_NO_ARGS=1" in d["Environment"]
    assert d["SupplementaryGroups"] == ["video input render"] and d["User"] == ["motcua"]
    assert d["Restart"] == ["always"] and "char-drm rw" in d["DeviceAllow"]
    assert d["Conflicts"] == ["getty@tty1.service"]


@pytest.mark.parametrize(
    ("timer", "calendar", "service"),
    [
        ("motcua-doctor.timer", "Mon *-*-* 07:00:00 Asia/Ho_Chi_Minh", "motcua-doctor.service"),
        ("motcua-backup.timer", "*-*-* 12:00:00 Asia/Ho_Chi_Minh", "motcua-backup.service"),
    ],
)
def test_timers(timer: str, calendar: str, service: str) -> None:
    d = directives(ROOT / "systemd" / timer)
    assert d["OnCalendar"] == [calendar] and d["Unit"] == [service] and d["Persistent"] == ["true"]
    proc = run("systemd-analyze", "calendar", calendar)
    assert proc.returncode == 0 and f"Normalized form: {calendar}" in proc.stdout, proc.stdout + proc.stderr


def test_doctor_timer_records_for_the_health_agent() -> None:
    d = directives(ROOT / "systemd/motcua-doctor.service")
    assert d["ExecStart"][0].endswith("doctor --record")
    assert d["SuccessExitStatus"] == ["3"]  # a failing check is a result, not a failed unit


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_unit_runs_a_real_subcommand(unit: Path) -> None:
    exec_line = directives(unit)["ExecStart"][0]
    assert exec_line.split()[0] == REFERENCE_BIN
    args = build_parser().parse_args(exec_line.split()[1:])
    assert callable(getattr(args, "handler", None)), exec_line
