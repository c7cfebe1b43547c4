"""The technician's answers: from flags, a provisioning file on a USB stick, or prompts; all validated
the same way, each mistake in one line that says what to type instead."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dossier.errors import InvalidInput

ROLES = ("kiosk", "sms", "both")
# QCVN 102:2016/BTTTT agency identifier, as in the national dossier code (dossier/codes.py): 000.00.15.H56
AGENCY = re.compile(r"^[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}$")
AGENCY_EXAMPLE = "000.00.15.H56"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{8,200}$")
DEFAULT_MODEM = "/dev/ttyUSB0"
FILE_KEYS = ("site", "role", "central", "token", "name", "modem")


@dataclass(frozen=True)
class Answers:
    """What a device needs to know to be provisioned."""

    site: str = ""  # the agency identifier of the office (QCVN 102:2016)
    role: str = ""  # kiosk | sms | both
    central: str = ""  # the province's central API, https://…
    token: str = ""  # single-use enrolment token from the ICT office ("" when already enrolled)
    name: str = ""  # the device's name at central; default <role>-<site>
    modem: str = ""  # the GSM modem's serial device (roles sms and both)

    def missing(self, *, need_token: bool) -> list[str]:
        """The answers still empty that provisioning needs."""
        wanted = ["site", "role", "central"] + (["token"] if need_token else [])
        return [k for k in wanted if not getattr(self, k)]

    def merged(self, other: Answers) -> Answers:
        """These answers, with the empty ones taken from ``other``."""
        return replace(
            self, **{f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        )


def check_site(text: str) -> str:
    """The agency identifier in canonical form, or ``InvalidInput``."""
    value = text.strip().upper()
    if not AGENCY.match(value):
        raise InvalidInput(
            f"{text.strip()!r} is not an agency identifier",
            hint=f"type it as on the office's dossier codes, e.g. {AGENCY_EXAMPLE}",
        )
    return value


def check_role(text: str) -> str:
    """``kiosk``, ``sms`` or ``both``, or ``InvalidInput``."""
    value = text.strip().lower()
    if value not in ROLES:
        raise InvalidInput(f"{text.strip()!r} is not a role", hint="choose kiosk, sms or both")
    return value


def check_central(text: str) -> str:
    """The central API's base URL without a trailing slash, or ``InvalidInput``."""
    value = text.strip().rstrip("/")
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
        _ = parts.port
    except ValueError:
        ok = False
    if not ok:
        raise InvalidInput(
            f"{text.strip()!r} is not the address of central",
            hint="type it as the ICT office gave it, e.g. https://motcua.example.gov.vn",
        )
    return value


def check_token(text: str) -> str:
    """An enrolment token as the ICT office issues it, or ``InvalidInput``."""
    value = text.strip()
    if not TOKEN.match(value):
        raise InvalidInput(
            "the enrolment token looks wrong (8 to 200 letters, digits or -_.~+/=)",
            hint="copy it again from the ICT office's message",
        )
    return value


def check_name(text: str) -> str:
    """A device name (letters, digits, . _ -; at most 64), or ``InvalidInput``."""
    value = text.strip()
    if not NAME.match(value):
        raise InvalidInput(
            f"{value!r} is not a device name", hint="use letters, digits, '.', '_' or '-', at most 64"
        )
    return value


def check_modem(text: str) -> str:
    """The modem's device path, or ``InvalidInput``."""
    value = text.strip()
    if not value.startswith("/") or any(c.isspace() for c in value):
        raise InvalidInput(
            f"{value!r} is not a device path", hint="e.g. /dev/serial/by-id/usb-…-if00-port0 or /dev/ttyUSB0"
        )
    return value


def check_phone(text: str) -> str:
    """A phone number for a test SMS (``+84…`` or ``0…``, 9 to 15 digits), or ``InvalidInput``; "" stays ""."""
    value = text.strip().replace(" ", "")
    if not value:
        return ""
    if not re.fullmatch(r"\+?[0-9]{9,15}", value):
        raise InvalidInput(f"{text.strip()!r} is not a phone number", hint="e.g. 0912345678 or +84912345678")
    return value


CHECKS: dict[str, Callable[[str], str]] = {
    "site": check_site,
    "role": check_role,
    "central": check_central,
    "token": check_token,
    "name": check_name,
    "modem": check_modem,
}


def validate(answers: Answers) -> Answers:
    """Every non-empty answer checked and normalised; the default name filled in."""
    values = {k: CHECKS[k](v) if v else "" for k, v in _items(answers)}
    out = Answers(**values)
    if not out.name and out.site and out.role:
        out = replace(out, name=f"{out.role}-{out.site}")
    return out


def from_mapping(data: Mapping[str, Any], *, source: str) -> Answers:
    """Answers from a parsed provisioning file (unknown keys and non-text values refused)."""
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        raise InvalidInput(f"{source}: unknown key {unknown[0]}", hint=f"known keys: {', '.join(FILE_KEYS)}")
    for key, value in data.items():
        if not isinstance(value, str):
            raise InvalidInput(f"{source}: {key} must be text in quotes")
    return Answers(**{k: str(v) for k, v in data.items()})


def from_file(path: Path) -> Answers:
    """Answers from a provisioning file (TOML on a USB stick)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(
            f"provisioning file {path} does not exist", hint="is the USB stick mounted?"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidInput(f"provisioning file {path} cannot be read ({err.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as err:
        raise InvalidInput(f"provisioning file {path} is not valid TOML: {err}") from None
    return from_mapping(raw, source=str(path))


def example_file() -> str:
    """A provisioning file to copy onto a USB stick."""
    return (
        "# motcua-edge provisioning file: `sudo motcua provision --from-file /media/usb/motcua.toml`\n"
        f'site = "{AGENCY_EXAMPLE}"          # the office\'s agency identifier\n'
        'role = "sms"                    # kiosk | sms | both\n'
        'central = "https://motcua.example.gov.vn"\n'
        'token = "enr_..."               # single-use, from the ICT office\n'
        '# name = "sms-000.00.15.H56"    # default: <role>-<site>\n'
        '# modem = "/dev/serial/by-id/usb-..."  # default: the first USB serial device\n'
    )


Ask = Callable[[str], str]
Say = Callable[[str], None]


def prompt(current: Answers, ask: Ask, say: Say, *, need_token: bool) -> Answers:
    """Ask for each missing (or every, with its current value as default) answer until it is valid."""
    questions = [
        ("site", f"Agency identifier of this office (e.g. {AGENCY_EXAMPLE})"),
        ("role", "Role of this device: kiosk, sms or both"),
        ("central", "Address of central (from the ICT office)"),
        ("token", "Enrolment token (from the ICT office)"),
        ("name", "Device name"),
        ("modem", "Modem device"),
    ]
    values = dict(_items(current))
    for key, question in questions:
        if key == "token" and not need_token:
            continue
        if key == "modem" and values.get("role") not in ("sms", "both"):
            continue
        default = values.get(key) or _default(key, values)
        while True:
            text = ask(f"{question}" + (f" [{default}]" if default and key != "token" else "") + ": ").strip()
            text = text or default
            if not text:
                say(f"  {key} is needed")
                continue
            try:
                values[key] = CHECKS[key](text)
                break
            except InvalidInput as err:
                say(f"  {err}")
    return Answers(**values)


def _default(key: str, values: Mapping[str, str]) -> str:
    if key == "name" and values.get("site") and values.get("role"):
        return f"{values['role']}-{values['site']}"
    if key == "modem":
        return detect_modem()
    if key == "role":
        return "kiosk"
    return ""


def detect_modem(dev: Path = Path("/dev")) -> str:
    """The first USB serial device by its stable name (``/dev/serial/by-id/…``), else ``/dev/ttyUSB0``."""
    found = sorted((dev / "serial" / "by-id").glob("*"))
    return str(found[0]) if found else DEFAULT_MODEM


def _items(answers: Answers) -> list[tuple[str, str]]:
    return [(f.name, getattr(answers, f.name)) for f in fields(answers)]
