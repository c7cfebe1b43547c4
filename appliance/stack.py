"""The stack ``make run`` starts: the reference central service with demo data, sync, and the parts.

Each part runs on its own thread (or child process for the central service); Ctrl-C or SIGTERM stops
them all cleanly.
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
from dossier.client import CentralClient
from dossier.errors import CentralError, DossierNotFound, NeedsTechnician

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


def run_stack(config: Config, *, with_central: bool = True, interactive: bool = False) -> int:
    """Run until interrupted; returns the exit code."""
    Path(config.data_dir).mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    central = start_central(config) if with_central else None
    if central is not None:
        config_url = f"http://{config.central_service.host}:{config.central_service.port}"
        print(
            f"central reference service: {config_url} (API docs: {config_url}/docs, fleet: {config_url}/fleet)"
        )
    cache = wiring.open_cache(config)
    client = wiring.make_client(config)
    syncer = wiring.make_syncer(config, cache, client)
    threads: list[threading.Thread] = []
    try:
        try:
            report = syncer.sync_once()
            print(f"sync: {report.stored} dossiers cached in {report.seconds:.2f} s")
        except CentralError as err:
            print(f"sync: central not reachable yet ({err}); the cache answers what it has")
        _print_try(cache)
        t = threading.Thread(target=syncer.run, args=(stop,), name="sync", daemon=True)
        t.start()
        threads.append(t)
        print("running; Ctrl-C stops")
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
        cache.close()
        if central is not None:
            central.terminate()
            try:
                central.wait(timeout=10)
            except subprocess.TimeoutExpired:
                central.kill()
    return 0


def _print_try(cache: object) -> None:
    from dossier.cache import Cache

    assert isinstance(cache, Cache)
    samples = cache.sample_codes(per_status=1)
    if samples:
        print("try, in another terminal:")
        for code, status in samples[:5]:
            print(f"  .venv/bin/motcua lookup {code}      # {status.vi}")
