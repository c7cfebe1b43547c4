"""Configuration: one TOML file → typed, validated, frozen sections.

Every section is a frozen dataclass whose fields carry their defaults; the loader rejects unknown keys
and wrong types with a ``ConfigError`` naming the key. A package that needs settings defines its section
dataclass in its own ``settings.py``; this module only composes them.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from barcode.settings import BarcodeSection
from dossier.errors import ConfigError
from sms_gateway.settings import SmsSection

T = TypeVar("T")


@dataclass(frozen=True)
class DeviceSection:
    """Who this device is and where it keeps its data."""

    name: str = "motcua-dev"
    kind: str = "gateway"  # gateway | kiosk
    data_dir: str = "data"
    agencies: tuple[str, ...] = ()  # agency identifiers whose dossiers this device syncs; empty: all


@dataclass(frozen=True)
class CentralSection:
    """How to reach the province's central status API."""

    url: str = "http://127.0.0.1:8470"
    api_key: str = ""
    ca_bundle: str = ""  # path to a CA bundle; empty: the system's
    verify_tls: bool = True
    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    retries: int = 2
    backoff: float = 0.3
    max_body_bytes: int = 4_000_000
    adapter: str = "reference"  # reference | dvcqg (national-portal-style TraCuuHoSo lookup)
    dvcqg_service: str = "TraCuuHoSo"
    dvcqg_unit: str = ""  # madonvi sent with portal-style lookups


@dataclass(frozen=True)
class CacheSection:
    """The local SQLite cache of dossier states."""

    path: str = ""  # empty: <data_dir>/cache.db
    fresh_seconds: float = 300.0
    retention_days: int = 30  # closed dossiers are purged this long after their last change


@dataclass(frozen=True)
class LookupSection:
    """How long a lookup may wait on central."""

    central_deadline: float = 3.0


@dataclass(frozen=True)
class SyncSection:
    """Pulling the changes feed."""

    interval: float = 30.0
    jitter: float = 0.2
    page_size: int = 1000
    max_backoff: float = 300.0


@dataclass(frozen=True)
class CodesSection:
    """Which dossier code formats are accepted besides the national one."""

    extra_patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderSection:
    """How results are shown."""

    mask_names: bool = True
    sms_segments: int = 2
    sms_unicode: bool = False


@dataclass(frozen=True)
class CentralServiceSection:
    """The reference central service (``motcua central serve``)."""

    host: str = "127.0.0.1"
    port: int = 8470
    db_path: str = ""  # empty: <data_dir>/central.db
    open_read: bool = True
    admin_token: str = "change-me"
    demo_dossiers: int = 3000
    change_log_retention: int = 200_000
    demo_activity_seconds: float = 20.0  # with --demo: advance a few dossiers this often; 0 disables
    max_body_bytes: int = 20_000_000  # larger request bodies are refused (413)
    enrollment_token_hours: float = 72.0  # how long an unused enrollment token stays valid


@dataclass(frozen=True)
class LoggingSection:
    """Logging to stderr (journald keeps it)."""

    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    device: DeviceSection = field(default_factory=DeviceSection)
    central: CentralSection = field(default_factory=CentralSection)
    cache: CacheSection = field(default_factory=CacheSection)
    lookup: LookupSection = field(default_factory=LookupSection)
    sync: SyncSection = field(default_factory=SyncSection)
    codes: CodesSection = field(default_factory=CodesSection)
    render: RenderSection = field(default_factory=RenderSection)
    central_service: CentralServiceSection = field(default_factory=CentralServiceSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    sms: SmsSection = field(default_factory=SmsSection)
    barcode: BarcodeSection = field(default_factory=BarcodeSection)

    @property
    def data_dir(self) -> Path:
        """The folder that holds this device's databases."""
        return Path(self.device.data_dir)

    @property
    def cache_path(self) -> Path:
        """The cache database file."""
        return Path(self.cache.path) if self.cache.path else self.data_dir / "cache.db"


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a TOML file; ``None`` → embedded defaults. Raises ``ConfigError``."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {p} does not exist", hint="copy config.example.toml") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {p} is not valid TOML: {err}") from None
    return config_from_dict(raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build a ``Config`` from parsed TOML; raises ``ConfigError`` naming the first bad key."""
    return _build(Config, raw, "")


def _build(cls: type[T], raw: Any, prefix: str) -> T:
    if not isinstance(raw, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a table")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"unknown key {prefix}{key}", hint=f"known keys here: {known}")
        values[key] = _convert(hints[key], value, f"{prefix}{key}")
    return cls(**values)


def _convert(hint: Any, value: Any, name: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, name + ".")  # type: ignore[arg-type]
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item_type, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{name} must be a list")
        return tuple(_convert(item_type, v, f"{name}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(option, value, name)
            except ConfigError:
                continue
        raise ConfigError(f"{name} has the wrong type ({type(value).__name__})")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a number, not {_kind(value)}")
        return float(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, not {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be a whole number, not {_kind(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be text (in quotes), not {_kind(value)}")
        return value
    if isinstance(value, hint):
        return value
    raise ConfigError(f"{name} has the wrong type ({_kind(value)})")


def _kind(value: Any) -> str:
    return {
        bool: "true/false",
        int: "a whole number",
        float: "a number",
        str: "text",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
