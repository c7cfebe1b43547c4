"""``motcua sms …``: run the gateway, emulate a modem, parse a message, show the gateway's health."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from dossier.errors import MotcuaError

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    """Add the ``sms`` command group to the main CLI's subparsers."""
    from sms_gateway.emulator_cli import add_emulate_arguments, emulate_handler

    sms = subparsers.add_parser("sms", help="the SMS gateway")
    sub = sms.add_subparsers(dest="sms_command", required=True)

    run = sub.add_parser("run", help="run the gateway on the configured modems")
    run.add_argument("--emulated", type=int, default=0, metavar="N", help="add N built-in emulated modems")
    run.add_argument(
        "--seconds-per-part", type=float, default=0.0, help="emulated modems: time per sent part"
    )
    run.add_argument(
        "--interactive", action="store_true", help="one emulated modem; type 'number> text' as a citizen"
    )
    run.set_defaults(handler=run_handler)

    emulate = sub.add_parser("emulate", help="a GSM modem emulator on a pseudo-terminal (type as a citizen)")
    add_emulate_arguments(emulate)
    emulate.set_defaults(handler=emulate_handler)

    parse = sub.add_parser("parse", help="show how the gateway reads a message")
    parse.add_argument("text", help="the SMS text, in quotes")
    parse.add_argument("--json", action="store_true", help="print JSON")
    parse.set_defaults(handler=parse_handler)

    status = sub.add_parser("status", help="modems, queues and counters of the gateway")
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=status_handler)


def db_path(config: Any) -> Path:
    """The gateway database file from the configuration."""
    from appliance.wiring import sms_db_path

    return sms_db_path(config)


def parse_handler(args: argparse.Namespace, config: Any) -> int:
    """``sms parse``: the command and normalised code (or why it is invalid)."""
    from dossier.codes import CodeParser
    from sms_gateway.commands import CommandParser

    cmd = CommandParser(CodeParser(config.codes.extra_patterns)).parse(args.text)
    data = cmd.to_json()
    if args.json:
        print(json.dumps(data, ensure_ascii=False))
    else:
        print(f"command: {data['command']}")
        print(f"code: {data['code'] or '-'}" + (f" ({data['reason']})" if data["reason"] else ""))
        if data["id_last4_given"]:
            print("ID digits: given")
    return 0


def status_handler(args: argparse.Namespace, config: Any) -> int:
    """``sms status``: what the running gateway last reported plus the database's figures."""
    from sms_gateway.health import format_health, gateway_health
    from sms_gateway.store import SmsStore

    path = db_path(config)
    if not path.exists():
        print(f"no SMS database at {path}: the gateway has not run yet", file=sys.stderr)
        return 1
    store = SmsStore(path)
    try:
        health = gateway_health(store)
    finally:
        store.close()
    print(json.dumps(health, ensure_ascii=False, indent=2) if args.json else format_health(health))
    return 0 if health["running"] else 3


def build_runtime(config: Any, *, extra_modems: tuple[Any, ...] = ()) -> Any:
    """The gateway runtime from the configuration (lookup over the shared dossier cache)."""
    from appliance import wiring

    cache = wiring.open_cache(config)
    lookup = wiring.make_lookup(config, cache, wiring.make_client(config))
    return wiring.make_sms_runtime(config, cache, lookup, extra_modems=extra_modems)


def run_handler(args: argparse.Namespace, config: Any) -> int:
    """``sms run``: the gateway until SIGTERM/SIGINT (or end of input with ``--interactive``)."""
    from sms_gateway.settings import ModemSection

    count = 1 if args.interactive else args.emulated
    extra = tuple(ModemSection(emulated=True, seconds_per_part=args.seconds_per_part) for _ in range(count))
    if not config.sms.modems and not extra:
        print(
            "no modems configured: add [[sms.modems]] to the configuration or use --emulated 1",
            file=sys.stderr,
        )
        return 2
    try:
        runtime = build_runtime(config, extra_modems=extra)
    except MotcuaError as err:
        print(f"cannot start the SMS gateway: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    runtime.start()
    try:
        if args.interactive:
            from sms_gateway.emulator_cli import run_interactive

            emulator = runtime.emulators[-1]
            print(f"SMS gateway running on an emulated modem ({emulator.port}).")
            return run_interactive(emulator, sys.stdin, sys.stdout)
        for emulator in runtime.emulators:
            print(f"emulated modem at {emulator.port}", flush=True)
        stop.wait()
        return 0
    finally:
        runtime.stop()
