"""The ``motcua`` command: a thin shell over the library.

Every user mistake ends in one line on stderr and a non-zero exit code, never a traceback.
Exit codes: 0 ok, 1 not found / failed, 2 bad input or config, 3 needs a technician, 4 unavailable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence

import barcode.cli
import central.cli
import sms_gateway.cli
from appliance import wiring
from appliance.config import Config, load_config
from appliance.logs import setup_logging
from dossier.errors import InvalidInput, MotcuaError, NeedsTechnician, TemporaryError
from dossier.lookup import Outcome
from dossier.render import render_text

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_TECHNICIAN, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4


def _cmd_lookup(args: argparse.Namespace, config: Config) -> int:
    code = wiring.make_parser(config).parse(args.code)  # a mistyped code touches nothing
    cache = wiring.open_cache(config)
    service = wiring.make_lookup(config, cache, wiring.make_client(config))
    try:
        result = service.lookup(code)
    finally:
        service.close()
        cache.close()
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
    else:
        print(render_text(result, lang=args.lang, mask_names=config.render.mask_names))
    return {Outcome.FOUND: EXIT_OK, Outcome.NOT_FOUND: EXIT_FAILED}.get(result.outcome, EXIT_UNAVAILABLE)


def _cmd_sync(args: argparse.Namespace, config: Config) -> int:
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
            return EXIT_OK
        stop = threading.Event()
        try:
            syncer.run(stop)
        except KeyboardInterrupt:
            stop.set()
        return EXIT_OK
    finally:
        cache.close()


def _cmd_config_check(args: argparse.Namespace, config: Config) -> int:
    print(f"configuration OK ({args.config or 'embedded defaults'})")
    return EXIT_OK


def _cmd_run(args: argparse.Namespace, config: Config) -> int:
    from appliance.stack import run_stack

    return run_stack(config, with_central=not args.no_central, interactive=args.interactive)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="motcua", description="motcua-edge: one-stop office appliance")
    parser.add_argument(
        "--config", "-c", default=os.environ.get("MOTCUA_CONFIG"), help="TOML config file (default: embedded)"
    )
    parser.add_argument("--data-dir", help="override device.data_dir")
    parser.add_argument("--log-level", help="override logging.level (DEBUG, INFO, WARNING, ERROR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("lookup", help="look up a dossier by its code")
    p.add_argument("code", help="dossier code, as printed on the receipt (any spacing)")
    p.add_argument("--json", action="store_true", help="print every field as JSON, with source and as_of")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.set_defaults(handler=_cmd_lookup)

    p = sub.add_parser("sync", help="pull the central changes feed into the cache")
    p.add_argument("--once", action="store_true", help="one pass, then exit (for scripts)")
    p.set_defaults(handler=_cmd_sync)

    p = sub.add_parser("config", help="configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("check", help="load and validate the configuration")
    c.set_defaults(handler=_cmd_config_check)

    p = sub.add_parser("run", help="run the whole stack (what `make run` starts)")
    p.add_argument(
        "--no-central", action="store_true", help="use central.url instead of a local reference service"
    )
    p.add_argument(
        "--interactive", action="store_true", help="let a person text the gateway from this terminal"
    )
    p.set_defaults(handler=_cmd_run)

    for register in (central.cli.register, sms_gateway.cli.register, barcode.cli.register):
        register(sub)
    return parser


def _config_with_overrides(args: argparse.Namespace) -> Config:
    import dataclasses

    config = load_config(args.config)
    if args.data_dir:
        config = dataclasses.replace(
            config, device=dataclasses.replace(config.device, data_dir=args.data_dir)
        )
    if args.log_level:
        config = dataclasses.replace(
            config, logging=dataclasses.replace(config.logging, level=args.log_level)
        )
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``motcua`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        config = _config_with_overrides(args)
        setup_logging(config.logging.level)
        return int(args.handler(args, config))
    except InvalidInput as err:
        print(f"motcua: {err}", file=sys.stderr)
        return EXIT_INPUT
    except NeedsTechnician as err:
        print(f"motcua: needs a technician: {err}", file=sys.stderr)
        return EXIT_TECHNICIAN
    except TemporaryError as err:
        print(f"motcua: temporarily unavailable: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except MotcuaError as err:
        print(f"motcua: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
