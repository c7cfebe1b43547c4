"""The ``motcua`` command: a thin shell over the library.

Command groups live in ``appliance.commands.<group>``, each with ``register(sub)``; this module builds
the parser from the groups that exist and maps the project's errors to exit codes. Every user mistake
ends in one line on stderr and a non-zero exit code, never a traceback.
Exit codes: 0 ok, 1 not found / failed, 2 bad input or config, 3 needs a technician, 4 unavailable.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence

from appliance.commands import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_TECHNICIAN,
    EXIT_UNAVAILABLE,
    GROUPS,
)
from appliance.commands.core import COMMANDS as CORE_COMMANDS
from appliance.config import Config, load_config, with_overrides
from dossier.errors import InvalidInput, MotcuaError, NeedsTechnician, TemporaryError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_TECHNICIAN",
    "EXIT_UNAVAILABLE",
    "build_parser",
    "main",
]


def available_groups() -> tuple[str, ...]:
    """The command groups whose module exists (each part's owner adds its own)."""
    return tuple(
        name for name in GROUPS if importlib.util.find_spec(f"appliance.commands.{name}") is not None
    )


_VALUE_OPTIONS = ("--config", "-c", "--data-dir", "--log-level")


def _command_of(argv: Sequence[str]) -> str:
    """The command word of ``argv`` (the first word that is neither an option nor an option's value)."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _VALUE_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            return token
    return ""


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand (only the ``core`` group's for its commands: faster)."""
    parser = argparse.ArgumentParser(prog="motcua", description="motcua-edge: one-stop office appliance")
    parser.add_argument(
        "--config", "-c", default=os.environ.get("MOTCUA_CONFIG"), help="TOML config file (default: embedded)"
    )
    parser.add_argument("--data-dir", help="override device.data_dir")
    parser.add_argument("--log-level", help="override logging.level (DEBUG, INFO, WARNING, ERROR)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = ("core",) if argv is not None and _command_of(argv) in CORE_COMMANDS else available_groups()
    for name in groups:
        importlib.import_module(f"appliance.commands.{name}").register(sub)
    return parser


def _config(args: argparse.Namespace) -> Config:
    return with_overrides(load_config(args.config), data_dir=args.data_dir, log_level=args.log_level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``motcua`` command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        config = _config(args)
        from appliance.logs import setup_logging

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
