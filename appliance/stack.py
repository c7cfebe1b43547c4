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
from pathlib import Path
from types import FrameType

from appliance import wiring
from appliance.config import Config
from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.errors import CentralError, DossierNotFound, NeedsTechnician
from sms_gateway.settings import ModemSection

log = logging.getLogger(__name__)


def start_central(config: Config) -> subprocess.Popen[bytes]:
    """Start the reference central service with demo data as a child process and wait until it answers."""
    svc = config.central_service
    cmd = [
        sys.executable,
        "-m",
        "appliance.cli",
        "--data-dir",
        str(config.data_dir),
        "--log-level",
        "WARNING",
        "central",
        "serve",
        "--demo",
        "--host",
        svc.host,
        "--port",
        str(svc.port),
    ]
    proc = subprocess.Popen(cmd)
    client = CentralClient(f"http://{svc.host}:{svc.port}", connect_timeout=1.0, read_timeout=2.0, retries=0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NeedsTechnician(f"the central reference service exited with code {proc.returncode}")
        try:
            client.get_dossier("000.00.00.H00-000101-0001")
            return proc
        except DossierNotFound:
            return proc
        except CentralError:
            time.sleep(0.3)
    proc.terminate()
    raise NeedsTechnician("the central reference service did not start within 120 s")


def run_stack(config: Config, *, with_central: bool = True, interactive: bool | None = None) -> int:
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
    central = start_central(config) if with_central else None
    cache = wiring.open_cache(config)
    client = wiring.make_client(config)
    lookup = wiring.make_lookup(config, cache, client)
    syncer = wiring.make_syncer(config, cache, client)
    gateway = None
    sync_thread = threading.Thread(target=syncer.run, args=(stop,), name="sync", daemon=True)
    try:
        try:
            report = syncer.sync_once()
            print(f"sync: {report.stored} dossiers cached in {report.seconds:.2f} s")
        except CentralError as err:
            print(f"sync: central not reachable yet ({err}); the cache answers what it has")
        sync_thread.start()
        emulated = () if config.sms.modems else (ModemSection(emulated=True),)
        gateway = wiring.make_sms_runtime(config, cache, lookup, extra_modems=emulated)
        gateway.start()
        if gateway.emulators:
            print(f"SMS gateway: running on an emulated GSM modem at {gateway.emulators[0].port}")
        else:
            print(f"SMS gateway: running on {len(gateway.modems)} modem(s)")
        _print_try(cache)
        if interactive and gateway.emulators:
            from sms_gateway.emulator_cli import run_interactive

            print("Text the gateway as a citizen: type  0912345678> HS <code>  (Ctrl-D or Ctrl-C stops)")
            return run_interactive(gateway.emulators[0], sys.stdin, sys.stdout)
        print("running; Ctrl-C stops")
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if gateway is not None:
            gateway.stop()
        if sync_thread.is_alive():
            sync_thread.join(timeout=10)
        lookup.close()
        cache.close()
        if central is not None:
            central.terminate()
            try:
                central.wait(timeout=10)
            except subprocess.TimeoutExpired:
                central.kill()
    return 0


def _print_try(cache: Cache) -> None:
    samples = cache.sample_codes(per_status=1)
    if not samples:
        return
    print("try, in another terminal (one code per state):")
    for code, status in samples:
        print(f"  .venv/bin/motcua lookup {code}      # {status.vi}")
