"""The systemd units of each role: which ones, where they come from, how they are installed.

The unit files in ``systemd/`` name ``/opt/motcua-edge/.venv/bin/motcua``; installing rewrites that to
the ``motcua`` actually running, so a checkout elsewhere works too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dossier.errors import NeedsTechnician
from provisioning.files import Layout, remove_file, write_atomic

REFERENCE_BIN = "/opt/motcua-edge/.venv/bin/motcua"
COMMON = (
    "motcua-sync.service",
    "motcua-health.service",
    "motcua-doctor.service",
    "motcua-doctor.timer",
    "motcua-backup.service",
    "motcua-backup.timer",
)
ROLE_UNITS: dict[str, tuple[str, ...]] = {
    "kiosk": (*COMMON, "motcua-kiosk.service"),
    "sms": (*COMMON, "motcua-sms.service"),
    "both": (*COMMON, "motcua-sms.service", "motcua-kiosk.service"),
}
# Started by their timers, never enabled themselves.
TIMER_DRIVEN = ("motcua-doctor.service", "motcua-backup.service")
DEVICE_UNITS = tuple(sorted({u for units in ROLE_UNITS.values() for u in units}))


def units_of(role: str) -> tuple[str, ...]:
    """The unit files a device of ``role`` gets."""
    return ROLE_UNITS[role]


def to_enable(role: str) -> tuple[str, ...]:
    """The units of ``role`` that are enabled (services that run, and the timers)."""
    return tuple(u for u in ROLE_UNITS[role] if u not in TIMER_DRIVEN)


def units_source(override: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the unit files: ``override``, the checkout's ``systemd/``, or the one beside the
    virtual environment (``/opt/motcua-edge/systemd`` for ``/opt/motcua-edge/.venv``)."""
    candidates = [Path(override)] if override else []
    candidates += [Path(__file__).resolve().parents[1] / "systemd", Path(sys.prefix).parent / "systemd"]
    for folder in candidates:
        if (folder / "motcua-sync.service").is_file():
            return folder
    raise NeedsTechnician(
        "the systemd unit files were not found", hint="run motcua from the motcua-edge checkout (make deps)"
    )


def motcua_binary() -> str:
    """The ``motcua`` command of this installation."""
    candidate = Path(sys.executable).with_name("motcua")
    return str(candidate) if candidate.exists() else REFERENCE_BIN


def render(text: str, binary: str) -> str:
    """A unit file's text for this installation."""
    return text.replace(REFERENCE_BIN, binary)


def planned(source: Path, role: str, binary: str) -> dict[str, bytes]:
    """Unit name → the bytes it should have on a device of ``role``."""
    out: dict[str, bytes] = {}
    for unit in units_of(role):
        try:
            out[unit] = render((source / unit).read_text(encoding="utf-8"), binary).encode()
        except FileNotFoundError:
            raise NeedsTechnician(
                f"unit file {source / unit} is missing", hint="restore the checkout"
            ) from None
    return out


def differing(layout: Layout, wanted: dict[str, bytes]) -> list[str]:
    """The units whose installed file is missing or different."""
    out = []
    for unit, data in wanted.items():
        path = layout.units_dir / unit
        try:
            same = path.read_bytes() == data
        except OSError:
            same = False
        if not same:
            out.append(unit)
    return out


def install(layout: Layout, wanted: dict[str, bytes]) -> list[str]:
    """Write the unit files (0644, atomically); returns those that changed."""
    return [unit for unit, data in wanted.items() if write_atomic(layout.units_dir / unit, data, 0o644)]


def installed(layout: Layout) -> list[str]:
    """The device units present in the tree."""
    return [u for u in DEVICE_UNITS if (layout.units_dir / u).exists()]


def remove(layout: Layout, units: list[str]) -> list[str]:
    """Delete unit files; returns those that existed."""
    return [u for u in units if remove_file(layout.units_dir / u)]
