"""Request bodies of the device routes, validated with bounds (PLAN.md heartbeat contract).

Unknown fields are ignored (a newer agent may send more); every known field is bounded, so one bad
heartbeat is refused with a message naming the field and nothing of its batch is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_BATCH = 100
MAX_METRICS = 200
MAX_CHECKS = 64
MAX_INCONSISTENCIES = 500

_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"
Text64 = Annotated[str, StringConstraints(max_length=64, pattern=_NO_CONTROL)]
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]
Number = Annotated[float, Field(strict=True, ge=-1e18, le=1e18, allow_inf_nan=False)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CheckIn(_In):
    """One doctor check of the latest doctor run."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_NO_CONTROL)]
    status: Literal["pass", "warn", "fail"]
    detail: Annotated[str, Field(max_length=300)] = ""


class HeartbeatItem(_In):
    """One heartbeat: who the device is, its compact metrics and its latest doctor checks."""

    seq: Annotated[int, Field(strict=True, ge=1, le=2**53)]
    sent_at: Annotated[AwareDatetime, Field(strict=True)]
    version: Text64 = ""
    role: Literal["kiosk", "sms", "both"]
    site: Annotated[str, StringConstraints(max_length=200, pattern=_NO_CONTROL)] = ""
    uptime_seconds: Annotated[float, Field(ge=0, le=1e10, allow_inf_nan=False)] = 0.0
    metrics: Annotated[dict[MetricName, Number], Field(max_length=MAX_METRICS)] = {}
    checks: Annotated[list[CheckIn], Field(max_length=MAX_CHECKS)] = []


class HeartbeatBatchIn(_In):
    """``{"heartbeats": [...]}``: 1 to 100 heartbeats, oldest first."""

    heartbeats: Annotated[list[HeartbeatItem], Field(min_length=1, max_length=MAX_BATCH)]


class InconsistencyIn(_In):
    """A state the device's cache found different from central's (001 Art. 8.4)."""

    id: (
        Annotated[int, Field(strict=True, ge=0)]
        | Annotated[str, StringConstraints(min_length=1, max_length=64)]
    )
    code: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NO_CONTROL)]
    cached_version: Annotated[int, Field(strict=True, ge=0, le=2**53)] | None = None
    central_version: Annotated[int, Field(strict=True, ge=0, le=2**53)] | None = None
    at: Annotated[float, Field(ge=0, le=1e11, allow_inf_nan=False)] | Annotated[str, Field(max_length=40)]
    channel: Text64 = ""

    @field_validator("at")
    @classmethod
    def _iso(cls, value: float | str) -> str:
        """Epoch seconds or ISO-8601 with an offset, kept as ISO text."""
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("must be epoch seconds or ISO-8601 with an offset") from None
            if parsed.tzinfo is None:
                raise ValueError("ISO-8601 time needs an offset")
            return parsed.isoformat()
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds")

    def row(self) -> dict[str, Any]:
        """The stored form."""
        return self.model_dump()


class InconsistenciesIn(_In):
    """``{"items": [...]}``: 1 to 500 inconsistencies."""

    items: Annotated[list[InconsistencyIn], Field(min_length=1, max_length=MAX_INCONSISTENCIES)]


class RevokeIn(_In):
    """Why a device is revoked (optional, kept with the revocation)."""

    reason: Annotated[str, Field(max_length=300)] = ""


class RevokeOut(BaseModel):
    """A revoked device."""

    device_id: str
    revoked_at: str
