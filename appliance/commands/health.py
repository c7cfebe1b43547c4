"""``motcua health run`` (the agent: local metrics and heartbeats) and ``motcua health show``.

The health modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from typing import Any

from appliance.commands import EXIT_OK
from appliance.config import Config


def register(sub: Any) -> None:
    """Add the ``health`` command group to the main CLI's subparsers."""
    health = sub.add_parser("health", help="the health agent: local metrics, heartbeats to central")
    hsub = health.add_subparsers(dest="health_command", metavar="COMMAND", required=True)
    run = hsub.add_parser("run", help="serve metrics on 127.0.0.1 and send heartbeats (the service)")
    run.set_defaults(handler=run_command)
    show = hsub.add_parser("show", help="print the current metrics summary (what the next heartbeat sends)")
    show.add_argument("--json", action="store_true", help="the heartbeat body and source states as JSON")
    show.set_defaults(handler=show_command)


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Run the agent until SIGTERM/SIGINT."""
    from appliance.health_wiring import build_agent, settings
    from appliance.wiring import enrol_when_reachable
    from health.exporter import MetricsServer, SnapshotCollector

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    server = None
    runtime = None
    try:
        if not enrol_when_reachable(config, stop) and stop.is_set():
            return EXIT_OK
        runtime = build_agent(config)
        server = MetricsServer(
            SnapshotCollector(runtime.sources.snapshot, runtime.agent), settings(config).port
        )
        runtime.agent.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if server is not None:
            server.close()
        if runtime is not None:
            runtime.close()
    return EXIT_OK


def show_command(args: argparse.Namespace, config: Config) -> int:
    """Print the summary the next heartbeat would carry."""
    from appliance.health_wiring import build_agent

    runtime = build_agent(config, connect=False)
    try:
        snap = runtime.sources.snapshot()
        body = runtime.agent.build(snap)
    finally:
        runtime.close()
    if args.json:
        print(json.dumps({**body, "source_up": snap.source_up}, ensure_ascii=False, indent=2))
        return EXIT_OK
    ident = snap.identity
    print(f"device {ident.device} ({ident.role}) site {ident.site or '-'} version {ident.version}")
    width = max((len(k) for k in body["metrics"]), default=10)
    for name, value in sorted(body["metrics"].items()):
        shown = str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0")
        print(f"  {name:<{width}}  {shown}")
    down = [name for name, ok in snap.source_up.items() if not ok]
    if down:
        print(f"cannot read: {', '.join(sorted(down))}")
    for check in body["checks"]:
        if check["status"] != "pass":
            print(f"doctor: {check['status']}: {check['name']}: {check['detail']}")
    return EXIT_OK
