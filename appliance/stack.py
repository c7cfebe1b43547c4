"""The stack ``make run`` starts: the reference central service with demo data, sync, the SMS gateway.

The central service runs as a child process; sync and the gateway's parts run on their own threads
over one shared cache. Ctrl-C or SIGTERM stops them all cleanly.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

from appliance import sms_wiring, wiring
from appliance.commands.core import retention_note
from appliance.config import Config
from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.errors import CentralError, DossierNotFound, NeedsTechnician
from dossier.model import VN_TZ, Status

log = logging.getLogger(__name__)


def start_central(config: Config, config_path: str | None = None) -> subprocess.Popen[bytes]:
    """Start the reference central service with demo data as a child process and wait until it answers."""
    svc = config.central_service
    cmd = [sys.executable, "-m", "appliance.cli"]
    if config_path:
        cmd += ["--config", str(config_path)]
    cmd += ["--data-dir", str(config.data_dir), "--log-level", "WARNING", "central", "serve", "--demo"]
    cmd += ["--host", svc.host, "--port", str(svc.port)]
    proc = subprocess.Popen(cmd)
    url = local_central_url(config)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NeedsTechnician(f"the central reference service exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/api/v1/health", timeout=2.0) as resp:
                if resp.status == 200:
                    return proc
        except OSError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise NeedsTechnician("the central reference service did not start within 120 s")


def local_central_url(config: Config) -> str:
    """The URL of the reference service this stack starts."""
    return f"http://{config.central_service.host}:{config.central_service.port}"


def enrol_with_local_central(config: Config) -> None:
    """Enrol this device with the demo central it started (reads need a device key), once.

    The key is saved 0600 in the data folder (``provisioning.enrolment``), where the central client of
    every command finds it; it is checked on each start and replaced if the demo database was reset.
    """
    from central.store import CentralStore
    from provisioning.enrolment import Credentials, enrol, read_credentials, write_credentials

    url = local_central_url(config)
    if config.central.api_key:
        return
    saved = read_credentials(config.data_dir)
    if saved is not None and saved.central == url and _key_works(url, saved.api_key):
        return
    db = Path(config.central_service.db_path or config.data_dir / "central.db")
    store = CentralStore(db)
    try:
        token = store.create_enrollment_token(datetime.now(VN_TZ), timedelta(hours=1))
    finally:
        store.close()
    creds = enrol(url, token, config.device.name, config.device.role)
    write_credentials(config.data_dir, Credentials(creds.device_id, creds.api_key, url))
    print(f"device enrolled with the local central service as {creds.device_id}")


def _key_works(url: str, api_key: str) -> bool:
    """Whether central accepts ``api_key`` (a read of a code that does not exist: 404, not 401)."""
    client = CentralClient(url, api_key=api_key, connect_timeout=1.0, read_timeout=2.0, retries=0)
    try:
        client.get_dossier("000.00.00.H00-000101-0001")
    except DossierNotFound:
        return True
    except CentralError:
        return False
    return True


def run_stack(
    config: Config,
    *,
    with_central: bool = True,
    interactive: bool | None = None,
    config_path: str | None = None,
) -> int:
    """Run until interrupted (or, interactively, until end of input); returns the exit code.

    ``interactive=None`` means: when standard input is a terminal, a person can text the SMS gateway
    from it as a citizen would.
    """
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    if interactive is None:
        interactive = sys.stdin.isatty()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    central = start_central(config, config_path) if with_central else None
    try:
        if central is not None:
            enrol_with_local_central(config)
        return _serve(config, stop, interactive=interactive, demo=central is not None)
    except KeyboardInterrupt:
        return 0
    finally:
        if central is not None:
            central.terminate()
            try:
                central.wait(timeout=10)
            except subprocess.TimeoutExpired:
                central.kill()


def _serve(config: Config, stop: threading.Event, *, interactive: bool, demo: bool) -> int:
    """Sync and the SMS gateway over one cache until ``stop`` (or, interactively, end of input)."""
    cache = wiring.open_cache(config)
    client = wiring.make_client(config)
    lookup = wiring.make_lookup(config, cache, client, channel="sms")  # the gateway's lookups
    syncer = wiring.make_syncer(config, cache, client)
    gateway = None
    sync_thread = threading.Thread(target=syncer.run, args=(stop,), name="sync", daemon=True)
    try:
        try:
            report = syncer.sync_once()
            print(
                f"sync: {report.received} received, {cache.count()} dossiers cached in {report.seconds:.2f} s"
            )
            if report.received > report.stored:
                print(f"  {retention_note(config, report.received - report.stored)}")
        except CentralError as err:
            print(f"sync: central not reachable yet ({err}); the cache answers what it has")
        sync_thread.start()
        gateway = sms_wiring.make_gateway(config, cache, lookup, emulated=0 if config.sms.modems else 1)
        gateway.start()
        if gateway.emulators:
            print(f"SMS gateway: running on an emulated GSM modem at {gateway.emulators[0].port}")
        else:
            print(f"SMS gateway: running on {len(gateway.modems)} modem(s)")
        samples = _print_try(cache)
        terminal = None
        if interactive and gateway.emulators:
            from sms_gateway.emulator_cli import run_interactive

            emulator = gateway.emulators[0]
            print("Text the gateway as a citizen: type  0912345678> HS <code>  (Ctrl-D or Ctrl-C stops)")
            if demo:
                _print_register(samples)

            def terminal_loop() -> None:
                try:
                    run_interactive(emulator, sys.stdin, sys.stdout)
                finally:
                    stop.set()  # end of input ends the stack

            terminal = terminal_loop
        if config.device.role in ("kiosk", "both"):
            from appliance.kiosk_wiring import start_kiosk_in_stack
            from kiosk.kivy_setup import has_display

            kiosk_lookup = wiring.make_lookup(config, cache, client, channel="kiosk", breaker=lookup.breaker)
            try:
                if has_display():  # Kivy owns the main thread; the terminal gets its own
                    if terminal is not None:
                        threading.Thread(target=terminal, name="terminal", daemon=True).start()
                    return start_kiosk_in_stack(config, kiosk_lookup, client, stop)
                start_kiosk_in_stack(config, kiosk_lookup, client, stop)  # screenshots, then go on
            finally:
                kiosk_lookup.close()
        if terminal is not None:
            terminal()
            return 0
        print("running; Ctrl-C stops", flush=True)
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        stop.set()
        if gateway is not None:
            gateway.stop()
        if sync_thread.is_alive():
            sync_thread.join(timeout=10)
        lookup.close()
        cache.close()


def _print_try(cache: Cache) -> list[tuple[str, Status]]:
    """Print one cached code per state to look up; returns them."""
    samples = cache.sample_codes(per_status=1)
    if not samples:
        return samples
    print("try, in another terminal (one code per state):")
    for code, status in samples:
        print(f"  .venv/bin/motcua lookup {code}      # {status.vi}")
    return samples


def _print_register(samples: list[tuple[str, Status]]) -> None:
    """A ``DK`` that works on the demo data: only the owner's phone may register for notifications."""
    from central.demo import demo_secrets

    open_codes = [code for code, status in samples if not status.is_closed]
    if open_codes:
        code = open_codes[0]
        phone = demo_secrets(code)["phone"]
        print(f"To be notified of changes, text from the owner's phone (demo data):  {phone}> DK {code}")
