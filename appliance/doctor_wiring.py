"""The doctor's checks for this device, composed from its config: the part-neutral checks of
``provisioning``, the modem through ``sms_gateway``'s public API and the camera through ``barcode``'s.

The hardware the running services hold is not grabbed from them: while the SMS gateway runs, the modem
figures come from its status snapshot and a test SMS goes through its outbox; otherwise the doctor opens
the modem itself (with the real modem library) and stores anything it finds on the SIM in the gateway's
database, so that nothing is lost.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from appliance.config import Config, exposed_secrets, with_overrides
from dossier.errors import MotcuaError, StorageError
from dossier.model import VN_TZ
from provisioning import doctor_checks as dc
from provisioning.checks import Check, CheckResult, FunctionCheck, Report, failed, passed, run_checks, warned
from provisioning.enrolment import KEY_FILE, PENDING_FILE, read_credentials
from provisioning.files import Layout

CONNECT_TIMEOUT = 25.0  # the modem library's init sequence takes a few commands
STATUS_TIMEOUT = 15.0
SEND_TIMEOUT = 90.0
CAMERA_FRAMES = 3
GATEWAY_WAIT = 30.0  # seconds a just-started gateway has to report on its modems
QUEUE_WARN = 200


@dataclass(frozen=True)
class DoctorOptions:
    """How the doctor runs."""

    config_path: str | None = None
    root: Path = Path("/")  # where /dev and /proc are looked at (a provisioned tree in tests)
    test_sms: str = ""  # a technician's phone number: send it a test SMS


def config_in_tree(config: Config, layout: Layout) -> Config:
    """The device's config with its data folder inside the provisioned tree (``provision --root``)."""
    return with_overrides(config, data_dir=str(layout.host(str(config.device.data_dir))))


def run_doctor(
    config: Config, options: DoctorOptions, *, on_start: Callable[[str], None] | None = None
) -> Report:
    """Run every check this device's role calls for."""
    return run_checks(build_checks(config, options), on_start=on_start)


def build_checks(config: Config, options: DoctorOptions) -> list[Check]:
    """The checks of this device's role."""
    role = config.device.role
    checks: list[Check] = [
        FunctionCheck("config", lambda: _config_results(config, options)),
        FunctionCheck("central", lambda: _central_results(config)),
        FunctionCheck("cache", lambda: _cache_results(config)),
        FunctionCheck("disk space", lambda: dc.check_disk(config.data_dir)),
    ]
    if role in ("sms", "both"):
        checks.append(FunctionCheck("modem", lambda: _modem_results(config, options)))
    if role in ("kiosk", "both"):
        checks += [
            FunctionCheck("display", lambda: dc.check_display(options.root / "dev")),
            FunctionCheck("touch input", lambda: dc.check_touch(options.root / "proc/bus/input/devices")),
            FunctionCheck("camera", lambda: _camera_result(config, options)),
            FunctionCheck("scanner", lambda: _scanner_results(config)),
        ]
    if options.root == Path("/") and Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        checks.append(FunctionCheck("services", lambda: _service_results(role)))
    return checks


# --- config, central, cache ------------------------------------------------------------------------------


def _config_results(config: Config, options: DoctorOptions) -> list[CheckResult]:
    out = []
    if options.config_path:
        out.append(passed("config valid", str(options.config_path)))
        exposed = exposed_secrets(options.config_path, config)
        out.append(failed("config secrets", exposed, f"chmod 600 {options.config_path}") if exposed
                   else passed("config secrets", "readable by its owner only"))  # fmt: skip
    else:
        out.append(warned("config valid", "no config file: embedded defaults", "pass --config /etc/motcua/config.toml"))  # fmt: skip
    out.append(dc.check_private("device key", config.data_dir / KEY_FILE, required=False))
    out.append(dc.check_private("enrolment token", config.data_dir / PENDING_FILE, required=False))
    return out


def _api_key(config: Config) -> str:
    if config.central.api_key:
        return config.central.api_key
    try:
        saved = read_credentials(config.data_dir)
    except MotcuaError:
        return ""
    return saved.api_key if saved else ""


def _central_results(config: Config) -> list[CheckResult]:
    if config.central.adapter != "reference":
        return [warned("central reachable", f"not checked for the {config.central.adapter} adapter", "none")]
    pending = (config.data_dir / PENDING_FILE).exists()
    return dc.central_checks(config.central.url, _api_key(config), pending_enrolment=pending)


def _damaged(path: Path, err: StorageError) -> list[CheckResult]:
    problem = [err.message]
    return [dc.check_cache(path, lambda: problem), dc.check_sync({})]


def _cache_results(config: Config) -> list[CheckResult]:
    path = config.cache_path
    if not path.exists():  # never create it here: it would belong to whoever runs the doctor
        return [dc.check_cache(path, list), dc.check_sync({})]
    from appliance import wiring

    try:
        cache = wiring.open_cache(config)
    except StorageError as err:
        return _damaged(path, err)
    try:
        try:
            problems = cache.store.quick_check()
        except StorageError as err:
            return _damaged(path, err)
        out = [dc.check_cache(path, lambda: problems), dc.check_sync(cache.sync_status())]
        service = wiring.make_lookup(config, cache, wiring.make_client(config))
        try:
            samples = cache.sample_codes(per_status=1)
            if samples:
                service.lookup(samples[0][0])  # one lookup down the citizens' path
            out.append(dc.check_breaker(service.breaker_state()))
        finally:
            service.close()
    finally:
        cache.close()
    return out


# --- the modem ---------------------------------------------------------------------------------------------


def _modem_results(config: Config, options: DoctorOptions) -> list[CheckResult]:
    from appliance.sms_wiring import sms_db_path
    from sms_gateway.store import SmsStore

    if not config.sms.modems:
        return [failed("modem", "no modem configured", "add [[sms.modems]] port = \"/dev/serial/by-id/…\" to the config")]  # fmt: skip
    db = sms_db_path(config)
    ports = [m.port for m in config.sms.modems]
    service_up = options.root == Path("/") and _active("motcua-sms.service")
    health = _gateway_health(db, ports, wait=GATEWAY_WAIT if service_up else 0.0)
    gateway_up = service_up or health["running"]  # then the gateway holds the modems: never open them here
    store = SmsStore(db) if db.exists() else None
    try:
        out: list[CheckResult] = []
        many = len(config.sms.modems) > 1
        for i, section in enumerate(config.sms.modems):
            label = f"modem {i + 1}" if many else "modem"
            snapshot = next((m for m in health.get("modems", []) if m.get("port") == section.port), None)
            if gateway_up and snapshot is not None:
                out += _modem_status_results(label, snapshot, "from the running gateway")
            elif gateway_up:
                out.append(warned(f"{label} answers AT", f"{section.port}: the gateway runs but has not reported yet",
                                  "run motcua doctor again in a minute; journalctl -u motcua-sms"))  # fmt: skip
            else:
                out += _probe(label, section, store, options.test_sms if i == 0 else "")
        if store is not None and "store" in health:
            out.append(_queue_result(health["store"]))
        if store is not None and gateway_up and options.test_sms:
            out.append(_queue_test_sms(store, options.test_sms))
        return out
    finally:
        if store is not None:
            store.close()


def _gateway_health(db: Path, ports: list[str], *, wait: float) -> dict[str, Any]:
    """The running gateway's status (waiting up to ``wait`` s for it to report on every modem)."""
    import threading

    from sms_gateway.health import gateway_health
    from sms_gateway.store import SmsStore

    deadline = time.monotonic() + wait
    pause = threading.Event()
    while True:
        health: dict[str, Any] = {"running": False}
        if db.exists():
            store = SmsStore(db)
            try:
                health = gateway_health(store)
            finally:
                store.close()
        reported = {m.get("port") for m in health.get("modems", [])}
        if (health["running"] and reported >= set(ports)) or time.monotonic() >= deadline:
            return health
        pause.wait(1.0)


def _probe(label: str, section: Any, store: Any, test_sms: str) -> list[CheckResult]:
    """Open the modem with the modem library (the gateway is not running) and read its state."""
    from dossier.errors import StorageError
    from sms_gateway.modem import Modem
    from sms_gateway.store import PartIn

    def keep_on_sim(_items: Any) -> None:
        raise StorageError("no gateway database yet: messages stay on the SIM for the gateway")

    def store_parts(items: Any) -> None:
        store.add_parts([PartIn.from_received(r.modem, r) for r in items])

    modem = Modem.from_settings(
        section,
        store_incoming=store_parts if store is not None else keep_on_sim,
        store_reports=store.record_reports if store is not None else keep_on_sim,
    )
    modem.start()
    try:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while not modem.wait_connected(0.1):
            st = modem.status()
            if (
                st.last_error
                or st.sim_state in ("SIM PIN", "SIM PUK", "PIN wrong")
                or time.monotonic() > deadline
            ):
                return _modem_status_results(label, _plain(st), "")
        deadline = time.monotonic() + STATUS_TIMEOUT
        st = modem.status()
        while st.storage_total is None and st.registration == "unknown" and time.monotonic() < deadline:
            modem.wait_connected(0.1)  # a bounded pause while the owner thread polls the modem's state
            st = modem.status()
        out = _modem_status_results(label, _plain(st), "")
        if test_sms:
            out.append(_send_test_sms(modem, test_sms))
        return out
    finally:
        modem.stop()


def _plain(status: Any) -> dict[str, Any]:
    from dataclasses import asdict

    data = asdict(status)
    data["signal_percent"] = status.signal_percent
    return data


def _modem_status_results(label: str, m: dict[str, Any], source: str) -> list[CheckResult]:
    note = f" ({source})" if source else ""
    port = m.get("port", "")
    if not m.get("connected"):
        sim = m.get("sim_state", "unknown")
        if sim == "SIM PIN":
            return [
                failed(
                    f"{label} SIM", f"the SIM in {port} asks for a PIN", "set sms.modems.pin in the config"
                )
            ]
        if sim in ("PIN wrong", "SIM PUK"):
            return [failed(f"{label} SIM", f"the SIM in {port} refused its PIN ({sim})",
                           "correct sms.modems.pin; unlock the SIM with its PUK in a phone")]  # fmt: skip
        error = m.get("last_error") or "no answer"
        return [failed(f"{label} answers AT", f"{port}: {error}",
                       "check the modem's USB cable and sms.modems.port (ls /dev/serial/by-id/)")]  # fmt: skip
    out = [
        passed(
            f"{label} answers AT", f"{port}: {m.get('manufacturer', '')} {m.get('model', '')}{note}".strip()
        )
    ]
    out.append(passed(f"{label} SIM", "SIM ready"))
    percent = m.get("signal_percent")
    if percent is None:
        out.append(failed(f"{label} signal", "no signal", "check the antenna; move the modem (a USB extension cable helps)"))  # fmt: skip
    elif percent < 20:
        out.append(warned(f"{label} signal", f"weak: {percent}%", "move the modem or add an antenna"))
    else:
        out.append(passed(f"{label} signal", f"{percent}%"))
    reg, operator = m.get("registration", "unknown"), m.get("operator", "")
    if reg in ("home", "roaming"):
        out.append(passed(f"{label} network", f"registered ({reg}) {operator}".strip()))
    elif reg == "searching":
        out.append(warned(f"{label} network", "searching for the network", "wait a minute; check the signal"))
    else:
        out.append(failed(f"{label} network", f"not registered ({reg})",
                          "check that the SIM is active and has credit (try it in a phone)"))  # fmt: skip
    smsc = m.get("smsc", "")
    out.append(passed(f"{label} SMSC", smsc) if smsc else
               warned(f"{label} SMSC", "no SMS centre number known", "set sms.modems.smsc (the operator's SMSC)"))  # fmt: skip
    used, total = m.get("storage_used"), m.get("storage_total")
    if used is None or not total:
        out.append(warned(f"{label} storage", "message storage not known", "none needed if SMS arrive"))
    elif used >= total:
        out.append(
            failed(
                f"{label} storage", f"SIM storage full ({used}/{total})", "start the gateway: it empties it"
            )
        )
    elif used >= 0.8 * total:
        out.append(warned(f"{label} storage", f"{used}/{total} used", "start the gateway: it empties it"))
    else:
        out.append(passed(f"{label} storage", f"{used}/{total} used"))
    return out


def _queue_result(stats: dict[str, Any]) -> CheckResult:
    out = stats.get("outbox", {})
    queued, failed_24h = int(out.get("queued", 0)), int(stats.get("failed_24h", 0) or 0)
    detail = (f"outbox {queued} queued, {out.get('sending', 0)} sending; {failed_24h} failed in 24 h;"
              f" {stats.get('parts_waiting', 0)} parts waiting")  # fmt: skip
    if queued > QUEUE_WARN or failed_24h:
        return warned("SMS queues", detail, "check the modem rows above; motcua sms status shows more")
    return passed("SMS queues", detail)


def _test_text() -> str:
    return f"motcua doctor: test SMS {datetime.now(VN_TZ):%d/%m %H:%M}"


def _send_test_sms(modem: Any, number: str) -> CheckResult:
    from sms_gateway.modem_types import mask_number

    try:
        result = modem.send(number, _test_text(), timeout=SEND_TIMEOUT)
    except MotcuaError as err:
        return failed("test SMS", f"not sent to {mask_number(number)}: {err}", "check the modem rows above")
    return passed("test SMS", f"sent to {mask_number(number)} ({result.parts} part): check the phone")


def _queue_test_sms(store: Any, number: str) -> CheckResult:
    from sms_gateway.modem_types import mask_number
    from sms_gateway.store import Outgoing

    store.enqueue([Outgoing(recipient=number, text=_test_text(), kind="notify", phone=number)])
    return passed("test SMS", f"queued for {mask_number(number)} in the running gateway: check the phone")


# --- kiosk hardware ----------------------------------------------------------------------------------------


def _camera_result(config: Config, options: DoctorOptions) -> CheckResult:
    b = config.barcode
    if not b.camera_enabled:
        return passed("camera", "not used (barcode.camera_enabled = false)")
    from barcode.camera import OpenCvCamera
    from barcode.errors import ScannerUnavailable

    fix = "check the camera's USB cable and barcode.camera_device (ls /dev/v4l/by-id/)"
    camera = OpenCvCamera.from_settings(b)
    try:
        camera.open()
        frames = sum(1 for _ in range(CAMERA_FRAMES) if camera.grab() and camera.retrieve() is not None)
    except ScannerUnavailable as err:
        if options.root == Path("/") and _active("motcua-kiosk.service"):
            return warned("camera", f"in use by the kiosk ({err.message})", "the kiosk's scans show it works")
        return failed("camera", err.message, fix)
    finally:
        camera.close()
    if not frames:
        return failed("camera", f"camera {b.camera_device} opens but gives no frames", fix)
    return passed("camera", f"camera {b.camera_device}: {frames}/{CAMERA_FRAMES} frames")


def _scanner_results(config: Config) -> list[CheckResult]:
    b = config.barcode
    out = []
    if b.serial_enabled:
        out.append(dc.check_device_path("serial scanner", b.serial_port, "check the scanner's USB cable and barcode.serial_port"))  # fmt: skip
    if b.wedge_evdev_device:
        out.append(dc.check_device_path("wedge scanner", b.wedge_evdev_device, "check the scanner's USB cable and barcode.wedge_evdev_device"))  # fmt: skip
    elif b.wedge_enabled:
        out.append(passed("wedge scanner", "keyboard-wedge scanner: scan a receipt to test it"))
    if not out and not b.camera_enabled:
        out.append(
            warned("scanner", "no barcode reader configured", "enable barcode.camera_enabled or a scanner")
        )
    return out or [passed("scanner", "the camera reads the barcodes")]


# --- services ----------------------------------------------------------------------------------------------


def _active(unit: str) -> bool:
    try:
        return (
            subprocess.run(["systemctl", "is-active", "--quiet", unit], timeout=10, check=False).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _service_results(role: str) -> list[CheckResult]:
    from provisioning.units import to_enable

    out = []
    for unit in to_enable(role):
        if unit.endswith(".timer") or unit == "motcua-doctor.service":
            continue
        if _active(unit):
            out.append(passed(unit, "running"))
        else:
            out.append(failed(unit, "not running", f"sudo systemctl restart {unit}; journalctl -u {unit}"))
    return out
