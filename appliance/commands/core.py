"""``motcua lookup``, ``motcua sync``, ``motcua config check`` and ``motcua run``.

``lookup`` is the command people and scripts run most: it must start fast, so this module imports only
the standard library and the configuration at import time (see ``bench/cli_bench.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from appliance.commands import EXIT_FAILED, EXIT_OK, EXIT_UNAVAILABLE
from appliance.config import Config, exposed_secrets

COMMANDS = ("lookup", "sync", "config", "run")  # what ``register`` adds (the CLI builds only these for them)


def register(sub: Any) -> None:
    """Add ``lookup``, ``sync``, ``config`` and ``run`` to the main parser's subparsers."""
    p = sub.add_parser("lookup", help="look up a dossier by its code")
    p.add_argument("code", help="dossier code, as printed on the receipt (any spacing)")
    p.add_argument(
        "--json", action="store_true", help="every field as JSON, with source and as_of (names masked)"
    )
    p.add_argument(
        "--unmasked",
        action="store_true",
        help="technician: show the applicant's full name (in text and JSON); hashes are never shown",
    )
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.set_defaults(handler=lookup_command)

    p = sub.add_parser("sync", help="pull the central changes feed into the cache")
    p.add_argument("--once", action="store_true", help="one pass, then exit (for scripts)")
    p.set_defaults(handler=sync_command)

    p = sub.add_parser("config", help="configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser(
        "check",
        help="load and validate the configuration; warns when a file holding secrets is readable by others",
    )
    c.set_defaults(handler=config_check_command)

    p = sub.add_parser("run", help="run the whole stack (what `make run` starts)")
    p.add_argument(
        "--no-central", action="store_true", help="use central.url instead of a local reference service"
    )
    p.add_argument(
        "--interactive",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let a person text the gateway from this terminal (default: on when stdin is a terminal)",
    )
    p.set_defaults(handler=run_command)


def lookup_command(args: argparse.Namespace, config: Config) -> int:
    """Look one code up (cache first, central within the deadline) and print it; exit 0/1/4."""
    from appliance import wiring
    from dossier.lookup import Outcome

    code = wiring.make_parser(config).parse(args.code)  # a mistyped code touches nothing
    cache = wiring.open_cache(config)
    service = wiring.make_lookup(config, cache, wiring.make_client(config))
    try:
        result = service.lookup(code)
    finally:
        service.close()
        cache.close()
    mask = config.render.mask_names and not args.unmasked
    if args.json:
        print(json.dumps(result.to_json(unmasked=not mask), ensure_ascii=False, indent=2))
    else:
        from dossier.render import render_text

        print(render_text(result, lang=args.lang, mask_names=mask))
    return {Outcome.FOUND: EXIT_OK, Outcome.NOT_FOUND: EXIT_FAILED}.get(result.outcome, EXIT_UNAVAILABLE)


def sync_command(args: argparse.Namespace, config: Config) -> int:
    """One sync pass (``--once``) or sync until interrupted."""
    from appliance import wiring

    stop = threading.Event()
    try:
        wiring.enrol_when_reachable(config, stop, once=args.once)  # a device provisioned offline enrols now
    except KeyboardInterrupt:
        return EXIT_OK
    cache = wiring.open_cache(config)
    syncer = wiring.make_syncer(config, cache, wiring.make_client(config))
    try:
        if args.once:
            report = syncer.sync_once()
            kind = "snapshot" if report.resnapshot else ("nothing new" if report.not_modified else "changes")
            print(
                f"sync: {kind}: {report.received} received, {report.stored} stored in {report.pages} pages,"
                f" {report.seconds:.2f} s; {cache.count()} dossiers cached"
            )
            if report.received > report.stored:
                print(f"  {retention_note(config, report.received - report.stored)}")
            return EXIT_OK
        try:
            syncer.run(stop)
        except KeyboardInterrupt:
            stop.set()
        return EXIT_OK
    finally:
        cache.close()


def retention_note(config: Config, not_stored: int) -> str:
    """Why fewer dossiers were stored than received: say it on screen, in one line."""
    days = config.cache.retention_days
    return (
        f"{not_stored} not stored: already cached, or closed more than {days} days ago"
        " (closed dossiers past retention are not cached; cache.retention_days)"
    )


def config_check_command(args: argparse.Namespace, config: Config) -> int:
    """Say the configuration is valid; warn (exit still 0) when its file exposes secrets to others."""
    print(f"configuration OK ({args.config or 'embedded defaults'})")
    if args.config:
        warning = exposed_secrets(args.config, config)
        if warning:
            print(f"WARNING: {warning}", file=sys.stderr)
    return EXIT_OK


def run_command(args: argparse.Namespace, config: Config) -> int:
    """The stack ``make run`` starts; interactive by default when stdin is a terminal."""
    from appliance.stack import run_stack

    return run_stack(
        config, with_central=not args.no_central, interactive=args.interactive, config_path=args.config
    )
