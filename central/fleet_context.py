"""What the device routes, ``/metrics`` and the fleet pages share: stores, clock, credentials."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi import Request

from central.auth import credential
from central.errors import NotFound, TooLarge, Unauthorized
from central.fleet_store import FleetStore
from central.fleet_writer import HeartbeatWriter
from central.staff import StaffAuth


class DeviceRegistry(Protocol):
    """What this router needs of central's store (enrolled devices and their keys)."""

    def enroll(self, token: str, name: str, kind: str, now: datetime) -> tuple[str, str]:
        """Consume an enrollment token; (device_id, api_key)."""
        ...

    def device_for_key(self, api_key: str) -> str | None:
        """The device owning the key, or None."""
        ...

    def heartbeat(self, device_id: str, status: dict[str, Any], now: datetime) -> None:
        """Record the old-style heartbeat."""
        ...

    def devices(self) -> list[dict[str, Any]]:
        """Every enrolled device (id, name, kind, enrolled_at, last_heartbeat, last_status)."""
        ...


@dataclass
class FleetContext:
    """Everything the device routes and fleet pages share."""

    registry: DeviceRegistry
    fleet: FleetStore
    writer: HeartbeatWriter
    staff: StaffAuth
    admin_token: str
    scrape_token: str
    now: Callable[[], datetime]
    offline_after: float

    def epoch(self) -> float:
        """Central's clock as epoch seconds (the truth for receive times)."""
        return self.now().timestamp()

    def device_for_key(self, key: str | None) -> str | None:
        """The enrolled device of an API key, or None; a revoked key raises ``Unauthorized``."""
        device_id = self.registry.device_for_key(key) if key else None
        if device_id is None:
            return None
        revoked = self.fleet.revoked_at(device_id)
        if revoked is not None:
            when = datetime.fromtimestamp(revoked, self.now().tzinfo).isoformat(timespec="seconds")
            raise Unauthorized(f"this device's key was revoked at {when}", hint="enroll the device again")
        return device_id

    def revoke(self, device_id: str, reason: str) -> str:
        """Revoke an enrolled device's key; returns when (ISO). ``NotFound`` for an unknown device."""
        if not any(d["id"] == device_id for d in self.registry.devices()):
            raise NotFound(f"no enrolled device {device_id[:40]}")
        at = self.fleet.revoke(device_id, self.epoch(), reason)
        return datetime.fromtimestamp(at, self.now().tzinfo).isoformat(timespec="seconds")

    def is_admin(self, key: str | None) -> bool:
        """Whether ``key`` is the admin token."""
        return bool(self.admin_token) and key is not None and hmac.compare_digest(key, self.admin_token)


def request_key(request: Request) -> str | None:
    """The caller's key (``Authorization: Bearer`` or ``X-Api-Key``), None when absent; malformed is 401."""
    return credential(request.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
