"""Figures of the machine itself: CPU temperature and throttling (Raspberry Pi), disk free, uptime.

Every probe answers ``None`` when the figure does not exist on this machine (no thermal zone, no
``vcgencmd``): absent is not an error. Paths and the command runner are seams for tests.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

THERMAL_ROOT = Path("/sys/class/thermal")
PROC_UPTIME = Path("/proc/uptime")
Runner = Callable[[Sequence[str]], str]  # runs a command, returns stdout; raises OSError/CalledProcessError


@dataclass(frozen=True)
class SystemStats:
    """The machine's figures; ``None`` where this machine has no such figure."""

    cpu_temperature_celsius: float | None
    throttled_flags: int | None  # vcgencmd get_throttled bits; None: not a Pi (or no vcgencmd)
    disk_free_bytes: int | None
    disk_total_bytes: int | None
    uptime_seconds: float | None

    @property
    def throttled_now(self) -> bool | None:
        """Under-voltage, frequency capping, throttling or the soft temperature limit right now."""
        return None if self.throttled_flags is None else bool(self.throttled_flags & 0xF)

    @property
    def disk_free_ratio(self) -> float | None:
        """Free space as a fraction of the data disk."""
        if self.disk_free_bytes is None or not self.disk_total_bytes:
            return None
        return self.disk_free_bytes / self.disk_total_bytes


def _run(argv: Sequence[str]) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=3.0, check=True).stdout


class SystemProbe:
    """Reads the machine's figures on demand."""

    def __init__(
        self,
        data_dir: Path,
        *,
        thermal_root: Path = THERMAL_ROOT,
        proc_uptime: Path = PROC_UPTIME,
        vcgencmd: str | None = None,
        runner: Runner = _run,
    ) -> None:
        self.data_dir = data_dir
        self.thermal_root = thermal_root
        self.proc_uptime = proc_uptime
        self.vcgencmd = vcgencmd if vcgencmd is not None else (shutil.which("vcgencmd") or "")
        self.runner = runner
        self._warned: set[str] = set()

    def read(self) -> SystemStats:
        """Every figure, now."""
        free, total = self.disk()
        return SystemStats(self.cpu_temperature(), self.throttled(), free, total, self.uptime())

    def cpu_temperature(self) -> float | None:
        """The hottest thermal zone in °C (a Pi has one, ``cpu-thermal``); ``None`` without zones."""
        readings = []
        for zone in sorted(self.thermal_root.glob("thermal_zone*")):
            try:
                readings.append(int((zone / "temp").read_text().strip()) / 1000.0)
            except (OSError, ValueError):
                continue  # some zones cannot be read (disabled sensors)
        return max(readings) if readings else None

    def throttled(self) -> int | None:
        """``vcgencmd get_throttled`` as an integer of flags; ``None`` where there is no vcgencmd."""
        if not self.vcgencmd:
            return None
        try:
            out = self.runner([self.vcgencmd, "get_throttled"]).strip()
            return int(out.split("=", 1)[1], 16)
        except (OSError, subprocess.SubprocessError, IndexError, ValueError) as err:
            self._warn_once("vcgencmd", f"vcgencmd get_throttled gave no answer: {err}")
            return None

    def disk(self) -> tuple[int | None, int | None]:
        """Free and total bytes of the disk holding the data directory."""
        try:
            usage = shutil.disk_usage(self.data_dir if self.data_dir.exists() else self.data_dir.parent)
        except OSError as err:
            self._warn_once("disk", f"cannot read free disk space: {err}")
            return None, None
        return usage.free, usage.total

    def uptime(self) -> float | None:
        """Seconds since the machine booted."""
        try:
            return float(self.proc_uptime.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)
