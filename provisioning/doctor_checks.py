"""The doctor's checks that need no other part: files and secrets, central, clock, cache, sync, disk,
display and touch input. Hardware checks built on other parts live in ``appliance/doctor_wiring.py``."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dossier.errors import MotcuaError
from dossier.transport import RawResponse, RequestsTransport, Transport
from provisioning.checks import CheckResult, failed, passed, warned

TIMEOUT = (3.0, 5.0)
DEADLINE = 8.0  # seconds for one whole exchange
SKEW_WARN, SKEW_FAIL = 30.0, 300.0
DISK_WARN_BYTES, DISK_FAIL_BYTES = 500_000_000, 100_000_000
DISK_WARN_RATIO, DISK_FAIL_RATIO = 0.10, 0.02
SYNC_WARN_AGE, SYNC_FAIL_AGE = 3600.0, 86_400.0
TIME_FIX = (
    "turn on time sync (sudo timedatectl set-ntp true) and check the network; a Pi has no clock battery"
)


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


# --- files ---------------------------------------------------------------------------------------------


def check_private(name: str, path: Path, *, required: bool, fix_missing: str = "") -> CheckResult:
    """A file holding a secret exists (if ``required``) and neither its group nor others can read it."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        if required:
            return failed(name, f"{path} is missing", fix_missing or "run sudo motcua provision")
        return passed(name, f"{path}: none (not needed)")
    except OSError as err:
        return failed(name, f"{path} cannot be read ({err.strerror})", "run the doctor as root or as motcua")
    if mode & 0o077:
        return failed(name, f"{path} is readable by others (mode {mode:04o})", f"chmod 600 {path}")
    return passed(name, f"{path} (mode {mode:04o})")


# --- central -------------------------------------------------------------------------------------------


def central_checks(
    url: str,
    api_key: str,
    *,
    pending_enrolment: bool = False,
    transport: Transport | None = None,
    clock: Callable[[], float] = time.time,
) -> list[CheckResult]:
    """Central reachable, this device's key accepted, and the clock within ``SKEW_WARN`` of central's."""
    http = transport or RequestsTransport(retries=0)
    out: list[CheckResult] = []
    host = urlsplit(url).hostname or ""
    try:
        sent = clock()
        resp = _get(http, url, "/api/v1/health", "")
        received = clock()
    except MotcuaError as err:
        fix = "check the network cable or Wi-Fi, and central.url in the config"
        out.append(failed("central reachable", f"{url}: {err.message}", fix))
        out.append(warned("central authentication", "not checked: central unreachable", fix))
        out.append(warned("clock", "not compared with central: central unreachable", TIME_FIX))
        return out
    if resp.status != 200:
        out.append(failed("central reachable", f"{url} answered HTTP {resp.status}", "tell the ICT office"))
    elif url.startswith("http://") and host not in ("127.0.0.1", "localhost", "::1"):
        out.append(warned("central reachable", f"{url} answers, but without HTTPS", "ask the ICT office for the https:// address"))  # fmt: skip
    else:
        out.append(passed("central reachable", f"{url} answers"))
    out.append(_auth(http, url, api_key, pending_enrolment))
    out.append(_skew(resp, (sent + received) / 2))
    return out


def _get(http: Transport, url: str, path: str, api_key: str) -> RawResponse:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return http.request(
        "GET",
        url.rstrip("/") + path,
        headers=headers,
        body=None,
        timeout=TIMEOUT,
        retry=False,
        max_bytes=2_000_000,
        deadline=DEADLINE,
    )


def _auth(http: Transport, url: str, api_key: str, pending: bool) -> CheckResult:
    name = "central authentication"
    if not api_key:
        if pending:
            return warned(name, "enrolment pending: the device enrols at its first connection",
                          "connect the device to the network; the sync service enrols it")  # fmt: skip
        return failed(
            name, "this device is not enrolled (no API key)", "run sudo motcua provision with a token"
        )
    try:
        resp = _get(http, url, "/api/v1/agencies", api_key)
    except MotcuaError as err:
        return warned(name, f"not checked: {err.message}", "run the doctor again")
    if resp.status in (401, 403):
        return failed(name, "central refused this device's key", "ask the ICT office for a token; sudo motcua provision --token …")  # fmt: skip
    if resp.status != 200:
        return warned(name, f"central answered HTTP {resp.status}", "run the doctor again; tell the ICT office if it stays")  # fmt: skip
    return passed(name, "central accepts this device's key")


def _skew(resp: RawResponse, local: float) -> CheckResult:
    header = resp.headers.get("date", "")
    try:
        server = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError):
        return warned(
            "clock", "central sent no Date header to compare with", "none needed if time sync is on"
        )
    skew = local - server  # central's Date has one-second resolution
    ahead = "ahead of" if skew > 0 else "behind"
    detail = f"{abs(skew):.0f} s {ahead} central"
    if abs(skew) > SKEW_FAIL:
        return failed("clock", detail, TIME_FIX)
    if abs(skew) > SKEW_WARN:
        return warned("clock", detail, TIME_FIX)
    return passed("clock", detail if abs(skew) >= 2 else "in step with central")


# --- cache, sync, lookups, disk -------------------------------------------------------------------------


def check_cache(path: Path, quick_check: Callable[[], list[str]]) -> CheckResult:
    """The cache file passes ``PRAGMA quick_check``."""
    if not path.exists():
        return warned(
            "cache integrity",
            f"{path} does not exist yet",
            "start the sync: sudo systemctl start motcua-sync",
        )
    problems = quick_check()
    if problems:
        return failed(
            "cache integrity",
            f"{path} is damaged: {problems[0][:120]}",
            f"sudo systemctl stop motcua-sync; delete {path}; start it again (it is rebuilt from central)",
        )
    return passed("cache integrity", f"{path}: quick_check ok")


def check_sync(status: Mapping[str, Any], *, now: float | None = None) -> CheckResult:
    """The last successful sync is recent; the last error is shown."""
    now = time.time() if now is None else now
    last, error = status.get("last_success"), str(status.get("last_error") or "")
    failures = int(status.get("consecutive_failures") or 0)
    suffix = f"; last error: {error[:120]}" if error and failures else ""
    fix = "check central (see above) and the sync service: journalctl -u motcua-sync"
    if not isinstance(last, (int, float)):
        return warned("last sync", "never synced" + suffix, fix)
    age = now - float(last)
    detail = f"{_age(max(age, 0.0))} ago" + (f", {failures} failures since" if failures else "") + suffix
    if age > SYNC_FAIL_AGE:
        return failed("last sync", detail, fix)
    if age > SYNC_WARN_AGE or failures:
        return warned("last sync", detail, fix)
    return passed("last sync", detail)


def check_breaker(state: Mapping[str, Any]) -> CheckResult:
    """The lookup circuit breaker is closed (central answers lookups)."""
    current = str(state.get("state", "unknown"))
    error = str(state.get("last_error") or "")
    if current == "closed":
        return passed("lookup breaker", "closed: lookups ask central")
    detail = f"{current}: lookups answer from the cache" + (f" ({error[:120]})" if error else "")
    return warned("lookup breaker", detail, "check central (see above); the breaker closes by itself")


def check_disk(path: Path) -> CheckResult:
    """Enough free space where the data lives."""
    where = path
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    ratio = usage.free / usage.total if usage.total else 0.0
    detail = f"{usage.free / 1e9:.1f} GB free of {usage.total / 1e9:.1f} GB ({ratio:.0%}) at {where}"
    fix = "delete old files (journalctl --vacuum-size=100M; old backups) or use a larger SD card"
    if usage.free < DISK_FAIL_BYTES or ratio < DISK_FAIL_RATIO:
        return failed("disk space", detail, fix)
    if usage.free < DISK_WARN_BYTES or ratio < DISK_WARN_RATIO:
        return warned("disk space", detail, fix)
    return passed("disk space", detail)


# --- kiosk display and touch ---------------------------------------------------------------------------

BTN_TOUCH, ABS_MT_POSITION_X, EV_ABS = 0x14A, 0x35, 0x03


def check_display(dev: Path) -> CheckResult:
    """A DRM display device (``/dev/dri/card*``) exists for SDL's KMS/DRM driver."""
    cards = sorted(p.name for p in (dev / "dri").glob("card*"))
    if not cards:
        return failed("display", f"no display device ({dev}/dri/card*)",
                      "check the screen cable; on a Pi keep dtoverlay=vc4-kms-v3d in /boot/firmware/config.txt")  # fmt: skip
    return passed("display", ", ".join(cards))


def _bits(words: str) -> int:
    """A /proc/bus/input bitmap (hex words, most significant first, one C long each) as an int."""
    width = struct.calcsize("l") * 8
    value = 0
    for word in words.split():
        value = (value << width) | int(word, 16)
    return value


def touch_devices(text: str) -> list[str]:
    """Names of the input devices with touch capability in ``/proc/bus/input/devices`` text."""
    found = []
    for block in text.split("\n\n"):
        name, bitmaps = "", {}
        for line in block.splitlines():
            if line.startswith("N: Name="):
                name = line.split("=", 1)[1].strip().strip('"')
            elif line.startswith("B: ") and "=" in line:
                key, _, value = line[3:].partition("=")
                try:
                    bitmaps[key.strip()] = _bits(value)
                except ValueError:
                    continue
        has_abs = bool(bitmaps.get("EV", 0) >> EV_ABS & 1)
        touch = bitmaps.get("KEY", 0) >> BTN_TOUCH & 1 or bitmaps.get("ABS", 0) >> ABS_MT_POSITION_X & 1
        if name and has_abs and touch:
            found.append(name)
    return found


def check_touch(proc_devices: Path) -> CheckResult:
    """A touch input device is present (``/proc/bus/input/devices``)."""
    try:
        text = proc_devices.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    except OSError as err:
        return warned(
            "touch input", f"{proc_devices} cannot be read ({err.strerror})", "run the doctor as root"
        )
    names = touch_devices(text)
    if not names:
        return failed("touch input", "no touch screen found", "check the touch screen's USB or ribbon cable")
    return passed("touch input", ", ".join(names)[:200])


def check_device_path(name: str, path: str, fix: str) -> CheckResult:
    """A configured device node (serial scanner, keyboard wedge) exists."""
    if not path:
        return warned(name, "no device configured", fix)
    if os.path.exists(path):
        return passed(name, path)
    return failed(name, f"{path} is not there", fix)
