"""What the health agent reads, as plain figures, and the Protocols of the parts that provide them.

The health package imports no other part: ``appliance/health_wiring.py`` adapts the SMS gateway and the
kiosk to these Protocols. The dossier cache (a ``dossier`` type) is adapted here, in ``health.core``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dossier.usage import UsageSnapshot


@dataclass(frozen=True)
class BreakerStats:
    """One lookup process's circuit breaker over central, as it published it (``dossier.usage`` states)."""

    state: str  # closed | open | half_open
    failures: int = 0
    since: float | None = None


@dataclass(frozen=True)
class CoreStats:
    """The dossier cache and its sync."""

    dossiers: int
    sync_last_success: float | None = None  # epoch seconds
    sync_errors_total: int | None = None
    sync_consecutive_failures: int | None = None
    inconsistencies_pending: int | None = None


@dataclass(frozen=True)
class ModemStats:
    """One GSM modem as last reported by the running gateway."""

    port: str
    connected: bool
    signal_percent: int | None
    registration: str  # home | roaming | searching | denied | not registered | unknown

    @property
    def registered(self) -> bool:
        """Registered on a network (home or roaming)."""
        return self.registration in ("home", "roaming")


@dataclass(frozen=True)
class SmsStats:
    """The SMS gateway's queues and counters, and its modems when the gateway is running."""

    inbox_pending: int
    outbox: Mapping[str, int]  # rows by state: queued, sending, unconfirmed, sent, delivered, failed
    gateway_running: bool
    modems: Sequence[ModemStats] = ()

    @property
    def sent_total(self) -> int:
        """Outgoing SMS accepted by the network (sent, then perhaps delivered)."""
        return int(self.outbox.get("sent", 0)) + int(self.outbox.get("delivered", 0))


@dataclass(frozen=True)
class KioskStats:
    """The kiosk's own store: ratings waiting for upload."""

    ratings_pending: int


@dataclass(frozen=True)
class DoctorCheck:
    """One check of the latest ``motcua doctor --record`` (clipped to the heartbeat contract)."""

    name: str
    status: str  # pass | warn | fail
    detail: str = ""


@dataclass(frozen=True)
class DoctorResult:
    """The latest doctor run: when, worst status and checks."""

    at: str
    worst: str
    checks: tuple[DoctorCheck, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> int:
        """Checks that failed."""
        return sum(1 for c in self.checks if c.status == "fail")


class CoreSource(Protocol):
    """The dossier cache's figures."""

    def core_stats(self) -> CoreStats:
        """Read the figures now."""
        ...


class SmsSource(Protocol):
    """The SMS gateway's figures (adapted in appliance/health_wiring.py)."""

    def sms_stats(self) -> SmsStats:
        """Read the figures now."""
        ...


class KioskSource(Protocol):
    """The kiosk store's figures (adapted in appliance/health_wiring.py)."""

    def kiosk_stats(self) -> KioskStats | None:
        """Read the figures now; ``None`` when the kiosk has no store yet."""
        ...


class UsageSource(Protocol):
    """Usage totals of every process (usage.db)."""

    def usage(self) -> UsageSnapshot:
        """Read the totals now."""
        ...


class Inconsistencies(Protocol):
    """Recorded mismatches between channels or with central (001 Art. 8.4), to forward."""

    def unreported_inconsistencies(self, limit: int = 100) -> list[dict[str, Any]]:
        """Oldest mismatches not yet accepted by central."""
        ...

    def mark_inconsistencies_reported(self, ids: Sequence[int]) -> None:
        """Central accepted these."""
        ...


class CentralSink(Protocol):
    """The calls to central the agent makes (``dossier.client.CentralClient``)."""

    def send_heartbeats(self, batch: list[dict[str, Any]]) -> None:
        """POST /api/v1/devices/heartbeats; raises ``CentralError`` subclasses."""
        ...

    def report_inconsistencies(self, items: list[dict[str, Any]]) -> None:
        """POST /api/v1/devices/inconsistencies; raises ``CentralError`` subclasses."""
        ...
