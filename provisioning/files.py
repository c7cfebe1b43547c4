"""Where a provisioned device keeps its files, and how they are written: atomically, with their mode set
before they appear, and with one clear message when the file system says no.

``Layout(root)`` maps the device's absolute paths into a directory tree: ``/`` on a device, a temporary
folder in tests (``motcua provision --root DIR``).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from dossier.errors import NeedsTechnician

SERVICE_USER = "motcua"
CONFIG_PATH = "/etc/motcua/config.toml"
DATA_DIR = "/var/lib/motcua"
UNITS_DIR = "/etc/systemd/system"


class FilesystemError(NeedsTechnician):
    """A file could not be written (read-only file system, no permission, disk full)."""


@dataclass(frozen=True)
class Layout:
    """The device's paths, inside ``root`` (``/`` on the device itself)."""

    root: Path

    def host(self, device_path: str) -> Path:
        """Where the device path ``device_path`` is in this tree."""
        return self.root / device_path.lstrip("/")

    @property
    def is_tree(self) -> bool:
        """True when provisioning into a folder rather than this machine itself."""
        return self.root.resolve() != Path("/")

    @property
    def etc_dir(self) -> Path:
        """``/etc/motcua``: config and the provisioning record (root:motcua 0750)."""
        return self.host("/etc/motcua")

    @property
    def config(self) -> Path:
        """The service configuration (motcua 0600: it holds the device key)."""
        return self.host(CONFIG_PATH)

    @property
    def record(self) -> Path:
        """The provisioning record: who this device is (no secrets)."""
        return self.etc_dir / "device.toml"

    @property
    def data_dir(self) -> Path:
        """``/var/lib/motcua``: the services' state (motcua 0700)."""
        return self.host(DATA_DIR)

    @property
    def units_dir(self) -> Path:
        """Where the systemd units go."""
        return self.host(UNITS_DIR)

    @property
    def label_png(self) -> Path:
        """The asset label (QR code with the device id), for printing."""
        return self.etc_dir / "asset-label.png"


def explain_os_error(err: OSError, path: Path, what: str) -> FilesystemError:
    """One line naming the fix for a failed write."""
    if err.errno == errno.EROFS:
        return FilesystemError(
            f"cannot {what} {path}: the file system is read-only",
            hint="remount it read-write (sudo mount -o remount,rw /) and run again",
        )
    if err.errno in (errno.EACCES, errno.EPERM):
        return FilesystemError(f"cannot {what} {path}: permission denied", hint="run it as root (sudo)")
    if err.errno == errno.ENOSPC:
        return FilesystemError(
            f"cannot {what} {path}: the disk is full", hint="free some space and run again"
        )
    return FilesystemError(f"cannot {what} {path}: {err.strerror or err}")


def ensure_dir(path: Path, mode: int) -> bool:
    """Create ``path`` (and parents) if missing and set its mode; True if anything changed."""
    try:
        if path.is_dir():
            if (path.stat().st_mode & 0o7777) != mode:
                os.chmod(path, mode)
                return True
            return False
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        return True
    except OSError as err:
        raise explain_os_error(err, path, "create the folder") from None


def write_atomic(path: Path, data: bytes, mode: int) -> bool:
    """Write ``data`` to ``path`` (temp file, fsync, rename) unless it already holds exactly that;
    the mode is set before the file appears. Returns True if the file was (re)written."""
    try:
        if path.is_file() and path.read_bytes() == data:
            if (path.stat().st_mode & 0o7777) != mode:
                os.chmod(path, mode)
                return True
            return False
    except OSError as err:
        raise explain_os_error(err, path, "read") from None
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = ""
        _fsync_dir(path.parent)
    except OSError as err:
        raise explain_os_error(err, path, "write") from None
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return True


def remove_file(path: Path) -> bool:
    """Delete ``path`` if it exists; True if it did."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as err:
        raise explain_os_error(err, path, "remove") from None
    return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- a small TOML writer (tomllib reads; the standard library has no writer) ---------------------------


def toml_dumps(data: dict[str, Any]) -> str:
    """TOML text for plain data: tables, arrays of tables, strings, numbers, booleans, lists."""
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).strip() + "\n"


def _table(data: dict[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not _is_table(v) and not _is_table_array(v)}
    if path and (scalars or not data):
        lines.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in data.items():
        if _is_table(value):
            _table(value, [*path, key], lines)
        elif _is_table_array(value):
            for item in value:
                lines.append(f"\n[[{'.'.join(_key(p) for p in [*path, key])}]]")
                for k, v in item.items():
                    if _is_table(v) or _is_table_array(v):
                        raise ValueError(f"nested tables inside [[{key}]] are not supported")
                    lines.append(f"{_key(k)} = {_value(v)}")


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) and key.isascii() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ValueError(f"cannot write {type(value).__name__} as TOML")
