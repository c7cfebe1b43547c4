"""A timed install: ``motcua provision`` of a fresh device root for each role, from nothing to "the doctor
passes", as a whole process the way a technician runs it.

The reference central service runs on loopback (real uvicorn, real SQLite); the SMS roles get the modem
emulator (driven by the real modem library); the kiosk roles get a display and a touch screen as the
kernel lists them in the tree (``/dev/dri/card0``, ``/proc/bus/input/devices``). Dependencies are already
installed. The goal on a Raspberry Pi is 15 minutes for the whole visit; here, well under a minute.
``python bench/provision_bench.py``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.config import CentralServiceSection  # noqa: E402
from central.app import create_app  # noqa: E402
from central.testing import run_server  # noqa: E402
from sms_gateway.emulator import ModemEmulator  # noqa: E402

GOAL_SECONDS = 60.0
ADMIN = "bench-admin-token"
SITE = "000.00.15.H56"
TOUCH = """I: Bus=0000 Vendor=0000 Product=0000 Version=0000
N: Name="raspberrypi-ts"
H: Handlers=mouse0 event0
B: EV=b
B: KEY=400 0 0 0 0 0
B: ABS=260800000000003
"""


def kiosk_hardware(root: Path) -> None:
    """A display and a touch screen, as a Pi shows them."""
    (root / "dev/dri").mkdir(parents=True)
    (root / "dev/dri/card0").touch()
    (root / "proc/bus/input").mkdir(parents=True)
    (root / "proc/bus/input/devices").write_text(TOUCH, encoding="utf-8")


def token(url: str) -> str:
    """A single-use enrolment token, as the ICT office issues it."""
    resp = requests.post(
        url + "/api/v1/admin/enrollment-tokens",
        headers={"Authorization": f"Bearer {ADMIN}"},
        json={},
        timeout=30,
    )
    resp.raise_for_status()
    return str(resp.json()["token"])


def install(role: str, url: str, folder: Path, modem: str) -> tuple[float, int, dict[str, Any]]:
    """Provision one fresh root; returns (seconds, exit code, doctor record)."""
    root = folder / role
    root.mkdir()
    if role != "sms":
        kiosk_hardware(root)
    argv = [sys.executable, "-m", "appliance.cli", "provision", "--root", str(root), "--yes",
            "--site", SITE, "--role", role, "--central", url, "--token", token(url)]  # fmt: skip
    if role != "kiosk":
        argv += ["--modem", modem]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n")
    record = root / "var/lib/motcua/doctor.json"
    doctor = json.loads(record.read_text()) if record.exists() else {}
    return seconds, proc.returncode, doctor


def main() -> int:
    """Provision a kiosk, a gateway and a device doing both; print the times."""
    with tempfile.TemporaryDirectory(prefix="motcua-provision-bench-") as tmp:
        folder = Path(tmp)
        settings = CentralServiceSection(admin_token=ADMIN, db_path=str(folder / "central.db"))
        emulator = ModemEmulator()
        emulator.start()
        try:
            with run_server(create_app(settings)) as url:
                print(f"{'role':<6} {'seconds':>8}  exit  doctor")
                worst_time, ok = 0.0, True
                for role in ("kiosk", "sms", "both"):
                    seconds, code, doctor = install(role, url, folder, emulator.port)
                    checks = doctor.get("checks", [])
                    counts = {s: sum(1 for c in checks if c["status"] == s) for s in ("pass", "warn", "fail")}
                    print(
                        f"{role:<6} {seconds:>8.1f}  {code:>4}  {doctor.get('worst', '?')}"
                        f" ({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail)"
                    )
                    worst_time = max(worst_time, seconds)
                    ok = ok and code == 0 and doctor.get("worst") in ("pass", "warn")
        finally:
            emulator.stop()
    print(
        f"slowest install {worst_time:.1f} s (goal < {GOAL_SECONDS:.0f} s here): {'OK' if ok and worst_time < GOAL_SECONDS else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
