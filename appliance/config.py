"""Configuration: one TOML file → typed, validated, frozen sections.

Each part owns its section type in its own ``settings.py``: a frozen msgspec ``Struct`` with
``forbid_unknown_fields`` and its bounds as ``Annotated[..., msgspec.Meta(...)]``; checks across fields
go in ``__post_init__``, raising ``ValueError("<key> must ...")``. This module composes the sections into
``Config`` and loads TOML with ``msgspec.convert``; every error becomes one ``ConfigError`` naming the key:
"sync.page_size must be >= 1 (got 0)", "unknown key device.kynd (known keys here: ...)".
Sections still written as dataclasses are accepted too (unknown keys are checked here for them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from barcode.settings import BarcodeSection
from central.settings import CentralServiceSection
from dossier.errors import ConfigError
from health.settings import HealthSection
from kiosk.settings import KioskSection
from sms_gateway.settings import SmsSection

Seconds = Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)]
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROLES = ("kiosk", "sms", "both")


class DeviceSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Who this device is and where it keeps its data."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] = "motcua-dev"
    role: Literal["kiosk", "sms", "both"] = "both"
    data_dir: Annotated[str, msgspec.Meta(min_length=1)] = "data"
    agencies: tuple[str, ...] = ()  # agency identifiers whose dossiers this device syncs; empty: all


class CentralSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to reach the province's central status API."""

    url: str = "http://127.0.0.1:8470"
    api_key: str = ""
    ca_bundle: str = ""  # path to a CA bundle; empty: the system's
    verify_tls: bool = True
    connect_timeout: Annotated[float, msgspec.Meta(ge=0.1, le=60.0)] = 3.0
    read_timeout: Annotated[float, msgspec.Meta(ge=0.1, le=300.0)] = 5.0
    retries: Annotated[int, msgspec.Meta(ge=0, le=10)] = 2
    backoff: Annotated[float, msgspec.Meta(ge=0.0, le=60.0)] = 0.3
    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1_000_000_000)] = 4_000_000
    adapter: Literal["reference", "dvcqg"] = "reference"  # dvcqg: national-portal-style TraCuuHoSo
    dvcqg_service: str = "TraCuuHoSo"
    dvcqg_unit: str = ""  # madonvi sent with portal-style lookups
    max_retry_after: Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)] = 60.0  # cap of central's Retry-After

    def __post_init__(self) -> None:
        check_url("url", self.url)


class CacheSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The local SQLite cache of dossier states."""

    path: str = ""  # empty: <data_dir>/cache.db
    fresh_seconds: Seconds = 300.0
    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 30  # closed dossiers purged after this


class LookupSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How long a lookup may wait on central."""

    central_deadline: Annotated[float, msgspec.Meta(ge=0.1, le=60.0)] = 3.0
    breaker_failures: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3  # consecutive failures that open it
    breaker_probe_seconds: Annotated[float, msgspec.Meta(ge=1.0, le=3600.0)] = 15.0  # probe while open


class SyncSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Pulling the changes feed."""

    interval: Annotated[float, msgspec.Meta(ge=1.0, le=86_400.0)] = 30.0
    jitter: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 0.2
    page_size: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1000
    max_backoff: Annotated[float, msgspec.Meta(ge=1.0, le=86_400.0)] = 300.0


class CodesSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Which dossier code formats are accepted besides the national one."""

    extra_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for i, pattern in enumerate(self.extra_patterns):
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"extra_patterns[{i}] is not a valid regular expression ({err})") from None


class RenderSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How results are shown."""

    mask_names: bool = True
    sms_segments: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2
    sms_unicode: bool = False


class LoggingSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Logging to stderr (journald keeps it)."""

    level: str = "INFO"

    def __post_init__(self) -> None:
        if self.level.upper() not in LOG_LEVELS:
            raise ValueError(f"level must be one of {', '.join(LOG_LEVELS)} (got {_show(self.level)})")


class Config(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration."""

    device: DeviceSection = msgspec.field(default_factory=DeviceSection)
    central: CentralSection = msgspec.field(default_factory=CentralSection)
    cache: CacheSection = msgspec.field(default_factory=CacheSection)
    lookup: LookupSection = msgspec.field(default_factory=LookupSection)
    sync: SyncSection = msgspec.field(default_factory=SyncSection)
    codes: CodesSection = msgspec.field(default_factory=CodesSection)
    render: RenderSection = msgspec.field(default_factory=RenderSection)
    central_service: CentralServiceSection = msgspec.field(default_factory=CentralServiceSection)
    logging: LoggingSection = msgspec.field(default_factory=LoggingSection)
    sms: SmsSection = msgspec.field(default_factory=SmsSection)
    barcode: BarcodeSection = msgspec.field(default_factory=BarcodeSection)
    kiosk: KioskSection = msgspec.field(default_factory=KioskSection)
    health: HealthSection = msgspec.field(default_factory=HealthSection)

    @property
    def data_dir(self) -> Path:
        """The folder that holds this device's databases."""
        return Path(self.device.data_dir)

    @property
    def cache_path(self) -> Path:
        """The cache database file."""
        return Path(self.cache.path) if self.cache.path else self.data_dir / "cache.db"


def check_url(key: str, url: str) -> None:
    """Raise ``ValueError`` naming ``key`` unless ``url`` is an http(s) URL with a host."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{key} must be an http:// or https:// URL with a host (got {_show(url)})")


# --- loading ------------------------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a TOML file; ``None`` → embedded defaults. Raises ``ConfigError``."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist", hint="copy config.example.toml") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {p} is a directory") from None
    except PermissionError:
        raise ConfigError(f"config file {p} cannot be read (permission denied)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {p} is not valid TOML: {err}") from None
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build a ``Config`` from parsed TOML; raises ``ConfigError`` naming the first bad key."""
    _check_keys(Config, raw, "")
    try:
        return msgspec.convert(raw, Config)
    except msgspec.ValidationError as err:
        raise ConfigError(_translate(str(err), raw)) from None


def with_overrides(config: Config, *, data_dir: str | None = None, log_level: str | None = None) -> Config:
    """The configuration with command-line overrides applied, validated like the file."""
    if not data_dir and not log_level:
        return config
    raw: dict[str, Any] = msgspec.to_builtins(config)
    if data_dir:
        raw["device"]["data_dir"] = data_dir
    if log_level:
        raw["logging"]["level"] = log_level
    return config_from_dict(raw)


def _fields(tp: Any) -> dict[str, Any] | None:
    """Field name → type of a Struct or dataclass type; ``None`` for other types."""
    if isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp)):
        return typing.get_type_hints(tp)
    return None


def _check_keys(tp: Any, raw: Any, prefix: str) -> None:
    """Unknown keys, named with their place and the known keys (for dataclass sections too)."""
    fields = _fields(tp)
    if fields is not None:
        if not isinstance(raw, dict):
            return  # msgspec names the wrong type
        for key, value in raw.items():
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise ConfigError(f"unknown key {prefix}{key}", hint=f"known keys here: {known}")
            _check_keys(fields[key], value, f"{prefix}{key}.")
        return
    if typing.get_origin(tp) is tuple and isinstance(raw, list):
        item = typing.get_args(tp)[0]
        for i, value in enumerate(raw):
            _check_keys(item, value, f"{prefix.rstrip('.')}[{i}].")


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_BOUND = re.compile(r"^Expected `(?P<want>\w+)`(?: of length)? (?P<op>[<>]=?) (?P<bound>\S+)$")
_ENUM = re.compile(r"^Invalid enum value ")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]+)`$")
_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text (in quotes)",
    "bool": "true or false",
    "array": "a list",
    "object": "a table",
    "null": "nothing",
}


def _translate(message: str, raw: dict[str, Any]) -> str:
    """One line naming the key from a msgspec validation message."""
    m = _AT.match(message)
    msg, path = (m.group("msg"), (m.group("path") or "").lstrip(".")) if m else (message, "")
    name = path or "config"
    if t := _TYPE.match(msg):
        want = " or ".join(_WORDS.get(w.strip(), w.strip()) for w in t.group("want").split("|"))
        return f"{name} must be {want.replace('text (in quotes)', 'text')}, not {_WORDS.get(t.group('got'), t.group('got'))}"
    if b := _BOUND.match(msg):
        what = "have a length " if "of length" in msg else "be "
        return f"{name} must {what}{b.group('op')} {b.group('bound')} (got {_show(_value_at(raw, path))})"
    if _ENUM.match(msg):
        options = typing.get_args(_type_at(path))
        allowed = ", ".join(_show(o) for o in options) if options else "one of the documented values"
        return f"{name} must be one of {allowed} (got {_show(_value_at(raw, path))})"
    if u := _UNKNOWN.match(msg):
        return f"unknown key {path + '.' if path else ''}{u.group('key')}"
    if path and msg and msg[0].islower():  # a section's __post_init__: "<key> must ..."
        return f"{path}.{msg}"
    return f"{name}: {msg}" if path else msg


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _segments(path: str) -> list[str | int]:
    return [int(i) if i else key for key, i in _SEGMENT.findall(path)]


def _value_at(raw: Any, path: str) -> Any:
    value = raw
    for seg in _segments(path):
        try:
            value = value[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _type_at(path: str) -> Any:
    tp: Any = Config
    for seg in _segments(path):
        if isinstance(seg, int):
            args = typing.get_args(tp)
            tp = args[0] if args else Any
            continue
        fields = _fields(tp) or {}
        tp = fields.get(seg, Any)
    while typing.get_origin(tp) is Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _show(value: Any) -> str:
    """A value as it would be written in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- secrets in the file ------------------------------------------------------------------------------

_SECRET_KEY = re.compile(r"(api_key|token|password|secret|pin)$")


def secret_keys(config: Config) -> list[str]:
    """Keys that hold a secret set away from its default (API key, admin/scrape tokens, SIM PIN)."""
    found: list[str] = []
    defaults = msgspec.to_builtins(Config())

    def walk(value: Any, default: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                sub = default.get(key) if isinstance(default, dict) else None
                if _SECRET_KEY.search(key) and isinstance(item, str):
                    if item and item != sub:
                        found.append(f"{prefix}{key}")
                else:
                    walk(item, sub, f"{prefix}{key}.")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, None, f"{prefix.rstrip('.')}[{i}].")

    walk(msgspec.to_builtins(config), defaults, "")
    return found


def exposed_secrets(path: str | os.PathLike[str], config: Config) -> str:
    """One warning line when the file holds secrets and others can read it; "" when all is well."""
    keys = secret_keys(config)
    if not keys:
        return ""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return ""
    if not mode & (stat.S_IRGRP | stat.S_IROTH):
        return ""
    who = " and ".join(w for w, bit in (("its group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit)
    return (
        f"{path} holds secrets ({', '.join(keys)}) and is readable by {who} (mode {mode:04o});"
        f" fix: chmod 600 {path}"
    )


def write_atomic(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
