"""``motcua sms emulate``: a person texts the gateway as a citizen through the modem emulator."""

from __future__ import annotations

import argparse
import re
import threading
from typing import Any, TextIO

from sms_gateway.emulator import ModemEmulator
from sms_gateway.emulator_types import SentMessage

DEFAULT_LINK = "/tmp/motcua-sms/ttyEMU0"
DEFAULT_NUMBER = "0912345678"
_LINE = re.compile(r"^\s*(\+?[0-9][0-9 ]{2,19}|[A-Za-z][A-Za-z0-9 ]{0,10})\s*>\s?(.*)$")

HELP = """\
Type  <phone number>> <text>   to text the gateway from that number, e.g.
      0912345678> HS 000.00.15.H56-240315-0001
A line without "number>" is sent from the last number used.
Commands: !unplug  !replug  !reset  !fault <name> <value>  !help   (Ctrl-D quits)
"""


def add_emulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``motcua sms emulate`` to ``parser``."""
    parser.add_argument("--link", default="", help=f"path the gateway opens (default: {DEFAULT_LINK})")
    parser.add_argument(
        "--seconds-per-part", type=float, default=None, help="time the network takes per part"
    )
    parser.add_argument("--slots", type=int, default=30, help="SIM storage slots")
    parser.add_argument("--quiet", action="store_true", help="no prompt: only serve the port until killed")


def emulate_handler(args: argparse.Namespace, config: Any) -> int:
    """Handler of ``motcua sms emulate``: start an emulator and let a person type as citizens."""
    import sys

    link = getattr(args, "link", "") or DEFAULT_LINK
    per_part = getattr(args, "seconds_per_part", None) or 0.0
    emulator = ModemEmulator(
        link_path=link, storage_slots=getattr(args, "slots", 30), seconds_per_part=per_part
    )
    emulator.start()
    try:
        if getattr(args, "quiet", False):
            print(f"modem emulator on {emulator.port} (pty {emulator.pty_name})", flush=True)
            threading.Event().wait()
            return 0
        return run_interactive(emulator, sys.stdin, sys.stdout)
    except KeyboardInterrupt:
        return 0
    finally:
        emulator.stop()


def run_interactive(emulator: ModemEmulator, stdin: TextIO, stdout: TextIO) -> int:
    """Read ``number> text`` lines, inject them as SMS; print every message the modem sends."""
    out_lock = threading.Lock()

    def say(text: str) -> None:
        with out_lock:
            stdout.write(text + "\n")
            stdout.flush()

    def on_sent(message: SentMessage) -> None:
        parts = f" ({message.parts} parts)" if message.parts > 1 else ""
        say(f"<< to {message.to}{parts}: {message.text}")

    emulator.add_listener(on_sent)
    say(f"Modem emulator ready: the gateway should open {emulator.port} (pty {emulator.pty_name}).")
    say(HELP.rstrip())
    number = DEFAULT_NUMBER
    for raw in stdin:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("!"):
            say(_command(emulator, line[1:].split()))
            continue
        match = _LINE.match(line)
        if match:
            number, text = match.group(1).replace(" ", ""), match.group(2)
        else:
            text = line
        if not text:
            say("(empty message not sent)")
            continue
        pdus = emulator.inject_sms(number, text)
        say(f">> from {number}: {text}" + (f" ({len(pdus)} parts)" if len(pdus) > 1 else ""))
    return 0


def _command(emulator: ModemEmulator, words: list[str]) -> str:
    if not words or words[0] == "help":
        return HELP.rstrip()
    if words[0] == "unplug":
        emulator.unplug()
        return "modem unplugged"
    if words[0] == "replug":
        emulator.replug()
        return f"modem plugged in again ({emulator.pty_name})"
    if words[0] == "reset":
        emulator.reset()
        return "modem reset itself (power-on settings: SIM storage, no notices, echo on)"
    if words[0] == "fault" and len(words) == 3:
        name, raw = words[1], words[2]
        value: object
        if raw.lower() in ("on", "true", "1", "yes"):
            value = True
        elif raw.lower() in ("off", "false", "0", "no"):
            value = False
        elif "," in raw:
            count, code = raw.split(",", 1)
            value = (float(count), int(code))
        else:
            value = float(raw)
        try:
            emulator.set_faults(**{name: value})
        except ValueError as err:
            return str(err)
        return f"fault {name} = {value}"
    return f"unknown command !{' '.join(words)} (try !help)"
