"""``motcua sms …``: run the gateway, emulate a modem, parse a message, show the gateway's health.

Moved here from ``sms_gateway/cli.py`` (which imported ``appliance.wiring``: a circle). The gateway's
modules, and with them the modem library, are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from appliance.commands import EXIT_FAILED, EXIT_INPUT, EXIT_OK, EXIT_TECHNICIAN
from appliance.config import Config
from dossier.errors import MotcuaError
from dossier.systemd_notify import sd_notify, watchdog_interval

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add the ``sms`` command group to the main CLI's subparsers."""
    sms = sub.add_parser("sms", help="the SMS gateway")
    ssub = sms.add_subparsers(dest="sms_command", metavar="COMMAND", required=True)

    run = ssub.add_parser("run", help="run the gateway on the configured modems")
    run.add_argument("--emulated", type=int, default=0, metavar="N", help="add N built-in emulated modems")
    run.add_argument(
        "--seconds-per-part", type=float, default=0.0, help="emulated modems: time per sent part"
    )
    run.add_argument(
        "--interactive", action="store_true", help="one emulated modem; type 'number> text' as a citizen"
    )
    run.set_defaults(handler=run_command)

    emulate = ssub.add_parser("emulate", help="a GSM modem emulator on a pseudo-terminal (type as a citizen)")
    emulate.add_argument(
        "--link", default="", help="path the gateway opens (default: /tmp/motcua-sms/ttyEMU0)"
    )
    emulate.add_argument(
        "--seconds-per-part", type=float, default=None, help="time the network takes per part"
    )
    emulate.add_argument("--slots", type=int, default=30, help="SIM storage slots")
    emulate.add_argument("--quiet", action="store_true", help="no prompt: only serve the port until killed")
    emulate.set_defaults(handler=emulate_command)

    parse = ssub.add_parser("parse", help="show how the gateway reads a message")
    parse.add_argument("text", help="the SMS text, in quotes")
    parse.add_argument("--json", action="store_true", help="print JSON")
    parse.set_defaults(handler=parse_command)

    status = ssub.add_parser("status", help="modems, queues and counters of the gateway")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=status_command)


def emulate_command(args: argparse.Namespace, config: Config) -> int:
    """``sms emulate``: a modem emulator on a pty; a person types as citizens."""
    from sms_gateway.emulator_cli import emulate_handler

    return emulate_handler(args, config)


def parse_command(args: argparse.Namespace, config: Config) -> int:
    """``sms parse``: the command and normalised code (or why it is invalid)."""
    from appliance.wiring import make_parser
    from sms_gateway.commands import CommandParser

    cmd = CommandParser(make_parser(config)).parse(args.text)
    data = cmd.to_json()
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(f"command: {data['command']}")
        print(f"code: {data['code'] or '-'}" + (f" ({data['reason']})" if data["reason"] else ""))
        if data["id_last4_given"]:
            print("ID digits: given")
    return EXIT_OK


def status_command(args: argparse.Namespace, config: Config) -> int:
    """``sms status``: what the running gateway last reported plus the database's figures."""
    from appliance.sms_wiring import sms_db_path
    from sms_gateway.health import format_health, gateway_health
    from sms_gateway.store import SmsStore

    path = sms_db_path(config)
    if not path.exists():
        print(f"no SMS database at {path}: the gateway has not run yet", file=sys.stderr)
        return EXIT_FAILED
    store = SmsStore(path)
    try:
        health = gateway_health(store)
    finally:
        store.close()
    breaker = lookup_breaker(config)
    if args.json:
        print(json.dumps({**health, "breaker": breaker}, ensure_ascii=False, indent=2))
    else:
        print(format_health(health))
        print(format_breaker(breaker))
    return EXIT_OK if health["running"] else EXIT_TECHNICIAN


def lookup_breaker(config: Config) -> dict[str, Any] | None:
    """The gateway's lookup circuit breaker over central as it last published it, or None."""
    from appliance.health_wiring import usage_path
    from dossier.usage import open_usage, read_usage

    path = usage_path(config)
    if not path.exists():
        return None
    store = open_usage(path)
    try:
        state = read_usage(store).states.get("breaker.sms")
    finally:
        store.close()
    return None if state is None else {**state[0], "published_at": state[1]}


def format_breaker(breaker: dict[str, Any] | None) -> str:
    """One line on the breaker for a technician."""
    if breaker is None:
        return "central breaker: unknown (the running gateway publishes it)"
    line = f"central breaker: {breaker.get('state', '?')}"
    if breaker.get("failures"):
        line += f", {breaker['failures']} consecutive failures"
    if breaker.get("state") != "closed" and breaker.get("last_error"):
        line += f" (last error: {breaker['last_error']})"
    return line


def run_command(args: argparse.Namespace, config: Config) -> int:
    """``sms run``: the gateway until SIGTERM/SIGINT (or end of input with ``--interactive``)."""
    from appliance import sms_wiring

    count = 1 if args.interactive else args.emulated
    if count < 0:
        print("--emulated must be 0 or more", file=sys.stderr)
        return EXIT_INPUT
    if not config.sms.modems and not count:
        print(
            "no modems configured: add [[sms.modems]] to the configuration or use --emulated 1",
            file=sys.stderr,
        )
        return EXIT_INPUT
    try:
        gateway = sms_wiring.build_gateway(config, emulated=count, seconds_per_part=args.seconds_per_part)
    except MotcuaError as err:
        print(f"cannot start the SMS gateway: {err}", file=sys.stderr)
        return EXIT_FAILED
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    gateway.start()
    try:
        if args.interactive:
            from sms_gateway.emulator_cli import run_interactive

            emulator = gateway.emulators[-1]
            print(f"SMS gateway running on an emulated modem ({emulator.port}).")
            return run_interactive(emulator, sys.stdin, sys.stdout)
        for emulator in gateway.emulators:
            print(f"emulated modem at {emulator.port}", flush=True)
        serve_with_watchdog(gateway.runtime.healthy, stop)
        return EXIT_OK
    finally:
        sd_notify("STOPPING=1")
        gateway.stop()


def serve_with_watchdog(healthy: Callable[[], bool], stop: threading.Event) -> None:
    """Tell systemd the gateway is ready, then feed its watchdog only while ``healthy()`` holds."""
    sd_notify("READY=1")
    interval = watchdog_interval()
    fed = True
    while not stop.wait(interval or 60.0):
        if interval is None:
            continue
        if healthy():
            sd_notify("WATCHDOG=1")
            if not fed:
                log.info("SMS gateway loop healthy again; feeding the watchdog")
            fed = True
        elif fed:
            log.error("SMS gateway loop is not healthy; systemd's watchdog will restart it")
            fed = False
