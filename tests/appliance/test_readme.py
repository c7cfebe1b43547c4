"""The README's examples hold against the demo data, and every command is documented (as sqlite-utils
checks its documentation).

The demo data depends on the time it is generated (``central.demo.generate(n, now=...)``), so the README
names that time in an HTML comment, ``<!-- readme-demo: now=2026-11-23T09:00:00+07:00 -->``; the examples
(SMS conversation, ``motcua`` command lines) must then be true of the demo generated at that time:
codes exist, a ``DK`` comes from the owner's phone of an open dossier, a shown reply is what the gateway
answers (up to a trailing "..."), and each command line parses.
"""

from __future__ import annotations

import argparse
import re
import shlex
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest

from appliance.cli import build_parser
from appliance.config import Config
from central.demo import demo_secrets, generate
from dossier.codes import CodeParser
from dossier.gsm7 import segments
from dossier.lookup import LookupResult, Outcome
from dossier.model import Dossier
from dossier.render import render_sms
from sms_gateway.commands import CommandParser, Kind

README = Path(__file__).resolve().parents[2] / "README.md"
ANCHOR = re.compile(r"<!--\s*readme-demo:\s*now=(\S+)\s*-->")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
SMS = re.compile(r"^(?P<phone>\+?\d{9,12})> (?P<text>.*?)(?:\s{2,}\(.*\))?\s*$")
REPLY = re.compile(r"^<< to (?P<phone>\+?\d{9,12})(?: \((?P<parts>\d+) parts\))?: (?P<text>.*?)\s*$")
COMMAND = re.compile(r"^(?:\.venv/bin/)?motcua\s+(?P<args>.*?)\s*(?:#.*)?$")


def readme() -> str:
    return README.read_text(encoding="utf-8")


def example_lines() -> list[str]:
    """The lines of the README's fenced code blocks."""
    return [line for block in FENCE.findall(readme()) for line in block.splitlines()]


@cache
def demo() -> tuple[datetime, dict[str, Dossier]]:
    """(the README's demo time, the demo dossiers `make run` generates at that time by code)."""
    found = ANCHOR.search(readme())
    assert found, (
        "README.md must say when its example demo data was generated, e.g. "
        "<!-- readme-demo: now=2026-11-23T09:00:00+07:00 --> (see tests/appliance/test_readme.py)"
    )
    now = datetime.fromisoformat(found.group(1))
    dossiers = generate(Config().central_service.demo_dossiers, now=now)
    return now, {d.code: d for d in dossiers}


def gateway_reply(dossier: Dossier, now: datetime) -> str:
    """What the gateway answers a lookup with the default configuration."""
    render = Config().render
    result = LookupResult(dossier.code, Outcome.FOUND, dossier, "central", now, 0.0)
    return render_sms(
        result,
        segments=render.sms_segments,
        unicode=render.sms_unicode,
        mask_names=render.mask_names,
        now=now,
    )


def test_the_readme_has_examples_to_check() -> None:
    lines = example_lines()
    assert any(SMS.match(line) for line in lines) and any(COMMAND.match(line) for line in lines)


def test_sms_examples_are_true_of_the_demo_data() -> None:
    now, dossiers = demo()
    parser = CommandParser()
    last_lookup: Dossier | None = None
    checked = 0
    for line in example_lines():
        if sms := SMS.match(line):
            command = parser.parse(sms.group("text"))
            assert command.code is not None, f"README: {line!r} names no valid code ({command.reason})"
            dossier = dossiers.get(command.code.value)
            assert dossier is not None, f"README: {command.code.value} is not in the demo data of {now}"
            if command.kind is Kind.SUBSCRIBE:
                owner = demo_secrets(dossier.code)["phone"]
                assert sms.group("phone") == owner, (
                    f"README: {line!r} is refused: only the owner's phone {owner} may register"
                )
                assert not dossier.status.is_closed, f"README: {dossier.code} is closed: nothing to notify"
            last_lookup = dossier if command.kind is Kind.LOOKUP else None
            checked += 1
        elif reply := REPLY.match(line):
            assert last_lookup is not None, f"README: the reply {line!r} follows no lookup"
            actual = gateway_reply(last_lookup, now)
            shown = reply.group("text").removesuffix("...").rstrip()
            assert actual.startswith(shown), f"README shows {shown!r}; the gateway answers {actual!r}"
            parts = int(reply.group("parts") or 1)
            assert segments(actual) == parts, (
                f"README says {parts} parts; the answer takes {segments(actual)}"
            )
    assert checked, "no SMS example found in the README"


def test_command_lines_parse_and_their_codes_exist() -> None:
    _, dossiers = demo()
    parser = build_parser()
    codes = CodeParser()
    for line in example_lines():
        found = COMMAND.match(line)
        if not found:
            continue
        argv = shlex.split(found.group("args"))
        try:
            args = parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README: `motcua {found.group('args')}` does not parse")
        if getattr(args, "command", None) == "lookup":
            value = codes.parse(args.code).value
            assert value in dossiers, f"README: {value} is not in the demo data"


def commands(parser: argparse.ArgumentParser, prefix: str = "motcua") -> list[str]:
    """Every leaf command of the parser, as ``motcua group action``."""
    out: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += commands(sub, f"{prefix} {name}") or [f"{prefix} {name}"]
    return out


def test_every_command_is_in_the_readme() -> None:
    text = readme()
    missing = [c for c in commands(build_parser()) if f"`{c}" not in text]
    assert not missing, f"commands missing from README.md's command table: {missing}"
