"""``motcua doctor`` against the real central service, the modem emulator (real modem library) with its
faults, a missing camera, and the kiosk's display and touch input as the kernel lists them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from appliance.cli import main
from central.testing import seed_bulk
from provisioning.enrolment import enrol
from provisioning.files import toml_dumps
from tests.provisioning.conftest import Central, kiosk_hardware

SITE = "000.00.15.H56"
PHONE = "0912345678"


def write_config(tmp_path: Path, central: Central, role: str, **sections: Any) -> Path:
    creds = enrol(central.url, central.token(), f"{role}-test", role)
    data: dict[str, Any] = {
        "device": {
            "name": f"{role}-test",
            "role": role,
            "data_dir": str(tmp_path / "data"),
            "agencies": [SITE],
        },
        "central": {"url": central.url, "api_key": creds.api_key},
        **sections,
    }
    if role == "kiosk":
        data.setdefault("barcode", {}).setdefault("wedge_enabled", True)  # a USB scanner typing codes
    path = tmp_path / "config.toml"
    path.write_text(toml_dumps(data), encoding="utf-8")
    os.chmod(path, 0o600)
    return path


def doctor(config: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["--config", str(config), "doctor", "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    return code, report


def rows(report: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in report["checks"]}


def sms_config(tmp_path: Path, central: Central, port: str) -> Path:
    return write_config(tmp_path, central, "sms", sms={"modems": [{"port": port, "command_timeout": 3.0}]})


def test_healthy_gateway_device_passes_and_sends_the_test_sms(
    tmp_path: Path, central: Central, modem: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sms_config(tmp_path, central, modem.port)
    code, report = doctor(config, "--test-sms", PHONE, capsys=capsys)
    checks = rows(report)
    assert code == 0 and report["worst"] == "warn", report  # warn: no sync has run yet
    for name in ("config valid", "config secrets", "central reachable", "central authentication", "clock",
                 "modem answers AT", "modem SIM", "modem signal", "modem network", "modem SMSC",
                 "modem storage", "test SMS", "disk space"):  # fmt: skip
        assert checks[name]["status"] == "pass", checks[name]
    assert checks["modem SMSC"]["detail"] == "+84980200030"
    assert "EMU-900" in checks["modem answers AT"]["detail"]
    assert {c["status"] for c in report["checks"] if c["status"] != "pass"} == {"warn"}
    sent = modem.wait_sent(1, timeout=30)
    assert sent[0].to == PHONE and sent[0].text.startswith("motcua doctor: test SMS")
    assert PHONE not in json.dumps(report)  # the technician's number is masked


@pytest.mark.parametrize(
    ("fault", "row", "words"),
    [
        ("pin", "modem SIM", "asks for a PIN"),
        ("no signal", "modem signal", "no signal"),
        ("not registered", "modem network", "not registered"),
        ("denied", "modem network", "denied"),
        ("unplugged", "modem answers AT", "does not exist"),
    ],
)
def test_each_modem_fault_fails_with_its_fix(
    fault: str, row: str, words: str, tmp_path: Path, central: Central, capsys: pytest.CaptureFixture[str]
) -> None:
    from sms_gateway.emulator import ModemEmulator

    emulator = ModemEmulator(pin="1234" if fault == "pin" else "")
    emulator.start()
    try:
        if fault == "no signal":
            emulator.set_signal(99)
        elif fault == "not registered":
            emulator.set_signal(21, registration=0)
        elif fault == "denied":
            emulator.set_signal(21, registration=3)
        elif fault == "unplugged":
            emulator.unplug()
        code, report = doctor(sms_config(tmp_path, central, emulator.port), capsys=capsys)
    finally:
        emulator.stop()
    check = rows(report)[row]
    assert code == 3 and report["worst"] == "fail"
    assert check["status"] == "fail" and words in check["detail"] and check["fix"], check
    failing = [c["name"] for c in report["checks"] if c["status"] == "fail"]
    assert failing == [row], failing  # one cause, one failure: nothing else is blamed


def test_no_camera_fails_with_the_fix_and_display_and_touch_are_found(
    tmp_path: Path, central: Central, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    kiosk_hardware(root)
    config = write_config(
        tmp_path,
        central,
        "kiosk",
        barcode={"camera_enabled": True, "camera_device": str(tmp_path / "video9")},
    )
    code, report = doctor(config, "--root", str(root), capsys=capsys)
    checks = rows(report)
    assert code == 3
    assert checks["camera"]["status"] == "fail" and "USB cable" in checks["camera"]["fix"]
    assert checks["display"] == {"name": "display", "status": "pass", "detail": "card0", "fix": ""}
    assert checks["touch input"]["detail"] == "raspberrypi-ts"  # the keyboard is not a touch screen
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == ["camera"]


def test_kiosk_without_display_or_touch(
    tmp_path: Path, central: Central, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    code, report = doctor(write_config(tmp_path, central, "kiosk"), "--root", str(root), capsys=capsys)
    checks = rows(report)
    assert code == 3
    assert checks["display"]["status"] == "fail" and "cable" in checks["display"]["fix"]
    assert checks["touch input"]["status"] == "fail"
    assert checks["camera"]["status"] == "pass"  # not used by this kiosk


def test_central_down(
    tmp_path: Path, central: Central, modem: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sms_config(tmp_path, central, modem.port)
    central.stop()
    code, report = doctor(config, capsys=capsys)
    checks = rows(report)
    assert code == 3
    assert checks["central reachable"]["status"] == "fail" and "network" in checks["central reachable"]["fix"]
    assert checks["central authentication"]["status"] == "warn"
    assert checks["modem answers AT"]["status"] == "pass"  # the rest is still checked


def test_refused_key_and_readable_secrets(
    tmp_path: Path, central: Central, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    kiosk_hardware(root)
    config = write_config(tmp_path, central, "kiosk")
    config.write_text(config.read_text().replace("mck_", "mck_x"), encoding="utf-8")
    os.chmod(config, 0o644)
    code, report = doctor(config, "--root", str(root), capsys=capsys)
    checks = rows(report)
    assert code == 3
    assert checks["central authentication"]["status"] == "fail"
    assert (
        checks["config secrets"]["status"] == "fail"
        and checks["config secrets"]["fix"] == f"chmod 600 {config}"
    )


def test_record_cache_and_sync(tmp_path: Path, central: Central, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    kiosk_hardware(root)
    seed_bulk(central.db, 30, agencies=(SITE,))
    config = write_config(tmp_path, central, "kiosk")
    config.write_text(config.read_text().replace(str(tmp_path / "data"), "/var/lib/motcua"), encoding="utf-8")
    data = root / "var/lib/motcua"
    assert main(["--config", str(config), "--data-dir", str(data), "sync", "--once"]) == 0
    code, report = doctor(config, "--root", str(root), "--record", capsys=capsys)
    checks = rows(report)
    assert code == 0 and report["worst"] == "pass", report
    assert checks["cache integrity"]["status"] == "pass" and checks["last sync"]["status"] == "pass"
    assert checks["lookup breaker"]["status"] == "pass"
    recorded = json.loads((data / "doctor.json").read_text())
    assert recorded["worst"] == "pass" and set(recorded) == {"at", "worst", "checks"}
    assert (data / "doctor.json").stat().st_mode & 0o777 == 0o600
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in recorded["checks"])

    cache = data / "cache.db"
    raw = bytearray(cache.read_bytes())
    for page in range(3 * 4096, len(raw), 4096):  # damage every b-tree page header after the schema
        raw[page + 8 : page + 60] = b"\xff" * 52
    cache.write_bytes(bytes(raw))
    code, report = doctor(config, "--root", str(root), capsys=capsys)
    assert code == 3
    assert [c["name"] for c in report["checks"] if c["status"] == "fail"] == ["cache integrity"], report
    assert "is rebuilt from central" in rows(report)["cache integrity"]["fix"]


def test_table_for_people(tmp_path: Path, central: Central, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    root.mkdir()
    config = write_config(tmp_path, central, "kiosk")
    assert main(["--config", str(config), "doctor", "--root", str(root)]) == 3
    out = capsys.readouterr().out
    assert "motcua doctor: kiosk-test (kiosk)" in out and "FAIL" in out and "PASS" in out
    assert "failed in" in out


def test_while_the_gateway_runs_its_modem_is_left_alone(
    tmp_path: Path, central: Central, modem: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from appliance.config import load_config
    from appliance.sms_wiring import build_gateway, sms_db_path
    from sms_gateway.health import gateway_health
    from sms_gateway.store import SmsStore

    config_path = sms_config(tmp_path, central, modem.port)
    config = load_config(config_path)
    gateway = build_gateway(config)
    gateway.start()
    try:
        store = SmsStore(sms_db_path(config))
        pause = threading.Event()
        for _ in range(300):  # the gateway reports every 5 s: wait (≤ 60 s) for a report with the modem up
            modems = gateway_health(store).get("modems", [])
            if modems and modems[0].get("connected") and modems[0].get("registration") != "unknown":
                break
            pause.wait(0.2)
        store.close()
        code, report = doctor(config_path, "--test-sms", PHONE, capsys=capsys)
        checks = rows(report)
        assert code == 0, report
        assert "from the running gateway" in checks["modem answers AT"]["detail"]
        assert checks["test SMS"]["status"] == "pass" and "queued" in checks["test SMS"]["detail"]
        assert checks["SMS queues"]["status"] == "pass"
        sent = modem.wait_sent(1, timeout=60)  # the gateway itself sent it
        assert sent[0].to == PHONE
    finally:
        gateway.stop()
