"""Device-facing routes of central: enrolment, heartbeats, inconsistencies, revocation, ``/metrics``.

``make_router`` opens the fleet database (``central/fleet_store.py``) next to central's and adds the
fleet pages for ICT staff (``central/fleet_web.py``). Device calls authenticate with their API key
(``Authorization: Bearer`` or ``X-Api-Key``); a revoked key is refused with 401 here and, through
``DevicesRouter.device_for_key``, on central's other device routes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from central import fleet_web, metrics
from central.errors import Unauthorized
from central.fleet_context import DeviceRegistry, FleetContext, read_body, request_key
from central.fleet_models import HeartbeatBatchIn, InconsistenciesIn, RevokeIn, RevokeOut
from central.fleet_store import FleetStore, Heartbeat, fleet_path_for
from central.fleet_writer import HeartbeatWriter
from central.schemas import ERRORS
from central.staff import StaffAuth
from dossier.errors import InvalidInput, TemporaryError

log = logging.getLogger(__name__)

API = "/api/v1"
MAX_HEARTBEAT_BODY = 5_000_000  # 100 heartbeats at the contract's limits (200 metrics, 64 checks) fit
MAX_INCONSISTENCY_BODY = 1_000_000
OFFLINE_AFTER_SECONDS = 300.0  # five missed one-minute heartbeats
WRITE_TIMEOUT = 30.0


M = TypeVar("M", bound=BaseModel)


class DevicesSettings(Protocol):
    """The settings this router reads (``central.settings.CentralServiceSection``)."""

    @property
    def admin_token(self) -> str:
        """Bearer token of the admin routes."""
        ...

    @property
    def scrape_token(self) -> str:
        """Bearer token of ``/metrics`` (empty: off)."""
        ...

    @property
    def db_path(self) -> str:
        """Central's database path."""
        ...


class EnrollIn(BaseModel):
    """Enrollment request."""

    token: Annotated[str, Field(min_length=1, max_length=200)]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,19}$")] = "gateway"


class EnrollOut(BaseModel):
    """A new device's credentials (the key is shown once)."""

    device_id: str
    api_key: str


class HeartbeatIn(BaseModel):
    """A device's status report (the old single-heartbeat form)."""

    status: dict[str, Any] = Field(default_factory=dict)


def parse(model: type[M], raw: bytes) -> M:
    """Validate a JSON body: 400 when it is not JSON, 422 naming the first wrong field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise InvalidInput(f"body is not valid JSON: {errors[0]['msg']}") from None
        for e in errors:
            if e["type"] == "string_pattern_mismatch" and "x00" in str(e.get("ctx", {}).get("pattern", "")):
                e["msg"] = "must not contain control characters"
        raise RequestValidationError(errors) from None


class DevicesRouter(APIRouter):
    """The router, with the key check that honours revocations (for central's other device routes)."""

    def __init__(self, context: FleetContext, **kw: Any) -> None:
        super().__init__(**kw)
        self.context = context

    def device_for_key(self, key: str) -> str | None:
        """The enrolled device of an API key, None when unknown; a revoked key raises ``Unauthorized``."""
        return self.context.device_for_key(key)


def _lifespan(writer: HeartbeatWriter, fleet: FleetStore) -> Callable[[FastAPI], Any]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(writer.close)
        fleet.close()

    return lifespan


def make_router(
    store: DeviceRegistry,
    settings: DevicesSettings,
    now: Callable[[], datetime],
    *,
    fleet_path: str | Path | None = None,
    retention_days: float = 14.0,
    offline_after: float = OFFLINE_AFTER_SECONDS,
) -> DevicesRouter:
    """The device routes, ``/metrics`` and the fleet pages; the fleet DB sits next to ``store``'s."""
    central_db = getattr(store, "path", None) or settings.db_path
    fleet = FleetStore(fleet_path or fleet_path_for(central_db), retention_days=retention_days)
    ctx = FleetContext(
        registry=store,
        fleet=fleet,
        writer=HeartbeatWriter(fleet),
        staff=StaffAuth(fleet, settings.admin_token),
        admin_token=settings.admin_token,
        scrape_token=settings.scrape_token,
        now=now,
        offline_after=offline_after,
    )
    router = DevicesRouter(ctx, lifespan=_lifespan(ctx.writer, fleet))
    _device_routes(router, ctx)
    metrics.add_route(router, ctx)
    fleet_web.add_routes(router, ctx)
    return router


def _device_routes(router: APIRouter, ctx: FleetContext) -> None:
    def device(request: Request) -> str:
        known = getattr(request.state, "principal", None)  # resolved by central's request guard
        if known is not None and getattr(known, "kind", "") == "device" and known.device_id:
            return str(known.device_id)
        device_id = ctx.device_for_key(request_key(request))
        if device_id is None:
            raise Unauthorized("a valid device API key is required", hint="enroll the device")
        return device_id

    def admin(request: Request) -> None:
        if not ctx.is_admin(request_key(request)):
            raise Unauthorized("the admin token is required (Authorization: Bearer <admin_token>)")

    @router.post(API + "/devices/enroll", status_code=201, response_model=EnrollOut, responses=ERRORS)
    def enroll(body: EnrollIn) -> EnrollOut:
        """Trade a single-use enrollment token for a device id and API key."""
        device_id, api_key = ctx.registry.enroll(body.token, body.name.strip(), body.kind, ctx.now())
        return EnrollOut(device_id=device_id, api_key=api_key)

    @router.post(API + "/devices/heartbeat", status_code=204, responses=ERRORS)
    def heartbeat(
        body: HeartbeatIn,
        device_id: str = Depends(device),  # noqa: B008
    ) -> Response:
        """Record that the device is alive, with its status (old form; see ``/devices/heartbeats``)."""
        if len(json.dumps(body.status, ensure_ascii=False)) > 16_000:
            raise InvalidInput("status is larger than 16000 characters")
        ctx.registry.heartbeat(device_id, body.status, ctx.now())
        return Response(status_code=204)

    @router.post(
        API + "/devices/heartbeats",
        status_code=204,
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": HeartbeatBatchIn.model_json_schema()}},
            }
        },
    )
    async def heartbeats(request: Request) -> Response:
        """Store 1–100 heartbeats (oldest first) in one transaction; a (device, seq) repeat is a no-op."""
        device_id = await run_in_threadpool(device, request)
        batch = parse(HeartbeatBatchIn, await read_body(request, MAX_HEARTBEAT_BODY))
        items = [
            Heartbeat(h.seq, h.sent_at, h.version, h.role, h.site.strip(), h.uptime_seconds, dict(h.metrics),
                      [c.model_dump() for c in h.checks])
            for h in batch.heartbeats
        ]  # fmt: skip
        committed = ctx.writer.submit(device_id, items, ctx.epoch())
        try:  # wait for the group commit holding this batch, without holding a server thread
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(committed)), WRITE_TIMEOUT)
        except TimeoutError:
            raise TemporaryError(
                f"heartbeats not stored within {WRITE_TIMEOUT:.0f} s; send them again"
            ) from None
        return Response(status_code=204)

    @router.post(
        API + "/devices/inconsistencies",
        status_code=204,
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": InconsistenciesIn.model_json_schema()}},
            }
        },
    )
    async def inconsistencies(request: Request) -> Response:
        """Store inconsistencies a device's cache found (idempotent by the device's item id)."""
        device_id = await run_in_threadpool(device, request)
        body = parse(InconsistenciesIn, await read_body(request, MAX_INCONSISTENCY_BODY))
        new = await run_in_threadpool(
            ctx.fleet.add_inconsistencies, device_id, [i.row() for i in body.items], ctx.epoch()
        )
        if new:
            log.info("device %s reported %d inconsistencies", device_id, new)
        return Response(status_code=204)

    @router.post(API + "/admin/devices/{device_id}/revoke", response_model=RevokeOut, responses=ERRORS)
    async def revoke(device_id: str, request: Request) -> RevokeOut:
        """Revoke a device's API key (admin); idempotent. The device must enroll again to come back."""
        await run_in_threadpool(admin, request)
        raw = await read_body(request, 10_000)
        body = parse(RevokeIn, raw) if raw.strip() else RevokeIn()
        at = await run_in_threadpool(ctx.revoke, device_id, body.reason)
        return RevokeOut(device_id=device_id, revoked_at=at)
