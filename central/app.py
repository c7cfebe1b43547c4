"""The central reference service: a FastAPI app implementing ``central/CONTRACT.md``.

Hot paths (dossier lookup, changes feed) return the stored JSON text as is, without pydantic models.
Every error answer has the contract's body ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from appliance.config import CentralServiceSection
from central import feed
from central.demo import DemoActivity
from central.errors import BadCursor, NotFound, TooLarge, Unauthorized
from central.fleet import fleet_page
from central.ingest import Ingestor, Report
from central.stats import on_time_stats
from central.store import CentralStore
from dossier.codes import CodeParser
from dossier.errors import CursorExpired, InvalidCode, InvalidInput, InvalidRecord, MotcuaError
from dossier.model import VN_TZ

log = logging.getLogger(__name__)

API = "/api/v1"
JSON_TYPE = "application/json"


def vn_now() -> datetime:
    """The current time in Vietnam time, to the second."""
    return datetime.now(VN_TZ).replace(microsecond=0)


# --- request and response models (validation and the OpenAPI document) --------------------------------


class ErrorBody(BaseModel):
    """``{"code", "message"}`` inside ``{"error": ...}``."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every non-2xx answer."""

    error: ErrorBody


class StepOut(BaseModel):
    """One history step."""

    at: str
    action: str
    officer: str
    title: str
    department: str
    state: str
    started_at: str | None
    deadline_at: str | None


class DossierOut(BaseModel):
    """The contract's dossier object."""

    code: str
    version: int
    status: int
    agency_id: str
    agency_name: str
    procedure_code: str
    procedure_name: str
    applicant_name: str
    organisation: str
    submitted_at: str | None
    received_at: str | None
    due_at: str | None
    finished_at: str | None
    returned_at: str | None
    handling_agency: str
    handling_department: str
    handling_officer: str
    note: str
    updated_at: str | None
    history: list[StepOut]
    owner_phone_hash: str
    owner_id4_hash: str


class ChangesOut(BaseModel):
    """One page of the changes feed."""

    items: list[DossierOut]
    cursor: str
    more: bool


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
    """A device's status report."""

    status: dict[str, Any] = Field(default_factory=dict)


Level = Annotated[
    int, Field(strict=True, ge=1, le=3, description="1 Rất hài lòng, 2 Hài lòng, 3 Chưa hài lòng")
]


class RatingIn(BaseModel):
    """A satisfaction rating (003 Art. 13)."""

    id: Annotated[str, Field(min_length=1, max_length=100)]
    agency_id: Annotated[str, Field(max_length=64)] = ""
    code: Annotated[str, Field(max_length=200)] = ""
    service: Level
    staff: Level
    rated_at: datetime | None = None


class TokenIn(BaseModel):
    """Optional validity of a new enrollment token."""

    valid_hours: Annotated[float, Field(gt=0, le=24 * 90)] | None = None


class TokenOut(BaseModel):
    """A new single-use enrollment token (shown once)."""

    token: str
    expires_at: str


class ReportOut(BaseModel):
    """An ingestion report."""

    accepted: int
    unchanged: int
    rejected: list[dict[str, Any]]
    warnings: list[dict[str, Any]]


_ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 404, 410, 413, 422, 500)
}


# --- plumbing ------------------------------------------------------------------------------------------


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The contract's error body."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _classify(err: MotcuaError) -> tuple[int, str]:
    if isinstance(err, Unauthorized):
        return 401, "unauthorized"
    if isinstance(err, NotFound):
        return 404, "not_found"
    if isinstance(err, CursorExpired):
        return 410, "cursor_expired"
    if isinstance(err, TooLarge):
        return 413, "too_large"
    if isinstance(err, (InvalidInput, InvalidRecord, BadCursor)):
        return 400, "invalid"
    return 500, "internal"


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with 413 before the app reads them."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        replay = iter(messages)

        async def receive_again() -> dict:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, receive_again, send)

    async def _refuse(self, scope: dict, receive: Callable, send: Callable) -> None:
        resp = error_response(413, "too_large", f"request body is larger than {self.limit} bytes")
        await resp(scope, receive, send)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("Authorization must be 'Bearer <key>'")
    return value.strip()


# --- the app -------------------------------------------------------------------------------------------


def create_app(
    settings: CentralServiceSection,
    *,
    db_path: str | Path | None = None,
    now: Callable[[], datetime] = vn_now,
    extra_code_patterns: tuple[str, ...] = (),
    demo: bool = False,
) -> FastAPI:
    """The service over the database at ``db_path`` (default ``settings.db_path``)."""
    path = db_path or settings.db_path
    if not path:
        raise InvalidInput("no database path: set central_service.db_path or pass db_path")
    store = CentralStore(path, change_log_retention=settings.change_log_retention)
    codec = feed.CursorCodec(store.epoch, store.cursor_key)
    codes = CodeParser(extra_code_patterns)
    ingestor = Ingestor(store, codes)
    activity = (
        DemoActivity(store, settings.demo_activity_seconds, now)
        if demo and settings.demo_activity_seconds > 0
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if activity:
            activity.start()
        yield
        if activity:
            activity.stop()
        store.close()

    app = FastAPI(
        title="motcua-edge central status API",
        version="1",
        description="Reference implementation of central/CONTRACT.md (dossier status for one-stop offices).",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.store = store
    app.state.activity = activity
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)

    @app.exception_handler(MotcuaError)
    async def _motcua_error(request: Request, err: MotcuaError) -> JSONResponse:
        status, code = _classify(err)
        if status == 500:
            log.error("%s %s failed: %s", request.method, request.url.path, err)
        return error_response(status, code, str(err))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return error_response(422, "invalid", f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 404: "not_found", 413: "too_large"}.get(err.status_code)
        code = code or ("internal" if err.status_code >= 500 else "invalid")
        return error_response(err.status_code, code, str(err.detail), getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal", "internal error; the service log has the details")

    def reader(request: Request) -> str | None:
        key = _bearer(request)
        if key is None:
            if not settings.open_read:
                raise Unauthorized("an API key is required", hint="enroll the device")
            return None
        device = store.device_for_key(key)
        if device is None:
            raise Unauthorized("unknown API key", hint="enroll the device again")
        return device

    def device(request: Request) -> str:
        key = _bearer(request)
        device_id = store.device_for_key(key) if key else None
        if device_id is None:
            raise Unauthorized("a valid device API key is required", hint="enroll the device")
        return device_id

    def admin(request: Request) -> None:
        key = _bearer(request)
        if not settings.admin_token or key is None or not hmac.compare_digest(key, settings.admin_token):
            raise Unauthorized("the admin token is required (Authorization: Bearer <admin_token>)")

    def json_body(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InvalidInput(f"body is not valid JSON: {getattr(err, 'msg', err)}") from None

    def report(rep: Report) -> JSONResponse:
        if store.log_size() > store.retention:
            store.compact()
        return JSONResponse(rep.to_json())

    # --- reads --------------------------------------------------------------------------------------

    @app.get(API + "/dossiers/{code:path}", responses={200: {"model": DossierOut}, **_ERRORS})
    def get_dossier(code: str, request: Request) -> Response:
        """A dossier by its code (any mangling the code parser accepts)."""
        reader(request)
        try:
            canonical = codes.parse(code).value
        except InvalidCode as err:
            raise InvalidInput(f"not a dossier code: {err.reason}") from None
        body = store.get_body(canonical)
        if body is None:
            raise NotFound(f"no dossier with code {canonical}")
        return Response(body, media_type=JSON_TYPE)

    @app.get(
        API + "/changes",
        responses={200: {"model": ChangesOut}, 304: {"description": "nothing new"}, **_ERRORS},
    )
    def changes(
        request: Request,
        agency: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006 (FastAPI copies defaults)
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1)] = feed.DEFAULT_LIMIT,
    ) -> Response:
        """Changed dossiers of the agencies after ``cursor`` (none: a full snapshot), in pages."""
        reader(request)
        if len(agency) > 200:
            raise InvalidInput("at most 200 agency parameters")
        answer = feed.changes_page(
            store, codec, agency, cursor, min(limit, feed.MAX_LIMIT), request.headers.get("if-none-match", "")
        )
        headers = {"ETag": answer.etag, "Cache-Control": "no-cache"}
        if answer.status == 304:
            return Response(status_code=304, headers=headers)
        return Response(answer.body, media_type=JSON_TYPE, headers=headers)

    @app.get(API + "/stats/{agency_id}", responses=_ERRORS)
    def stats(
        agency_id: str,
        request: Request,
        year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
        month: Annotated[int | None, Query(ge=1, le=12)] = None,
    ) -> JSONResponse:
        """On-time statistics of an agency for a month or a year (Decision 766)."""
        reader(request)
        if not store.agency_known(agency_id):
            raise NotFound(f"no dossiers of agency {agency_id}")
        current = now()
        return JSONResponse(on_time_stats(store, agency_id, year or current.year, month, current))

    @app.get(API + "/agencies", responses=_ERRORS)
    def agencies(request: Request) -> JSONResponse:
        """Agencies that have dossiers here, with their names and counts."""
        reader(request)
        return JSONResponse({"agencies": store.agencies()})

    @app.get(API + "/health")
    def health() -> JSONResponse:
        """Liveness: answers while the database is readable."""
        return JSONResponse({"ok": True, "dossiers": store.count(), "time": now().isoformat()})

    # --- devices ------------------------------------------------------------------------------------

    @app.post(API + "/devices/enroll", status_code=201, response_model=EnrollOut, responses=_ERRORS)
    def enroll(body: EnrollIn) -> EnrollOut:
        """Trade a single-use enrollment token for a device id and API key."""
        device_id, api_key = store.enroll(body.token, body.name.strip(), body.kind, now())
        return EnrollOut(device_id=device_id, api_key=api_key)

    @app.post(API + "/devices/heartbeat", status_code=204, responses=_ERRORS)
    def heartbeat(
        body: HeartbeatIn,
        device_id: str = Depends(device),  # noqa: B008
    ) -> Response:
        """Record that the device is alive, with its status."""
        if len(json.dumps(body.status, ensure_ascii=False)) > 16_000:
            raise InvalidInput("status is larger than 16000 characters")
        store.heartbeat(device_id, body.status, now())
        return Response(status_code=204)

    @app.post(API + "/ratings", status_code=201, responses=_ERRORS)
    def rating(
        body: RatingIn,
        response: Response,
        device_id: str = Depends(device),  # noqa: B008
    ) -> dict[str, Any]:
        """Store a satisfaction rating; the same ``id`` again answers 200 with the stored one."""
        code = ""
        if body.code.strip():
            try:
                code = codes.parse(body.code).value
            except InvalidCode as err:
                raise InvalidInput(f"code: {err.reason}") from None
        agency_id = body.agency_id.strip() or (codes.parse(code).agency if code else "")
        if not agency_id:
            raise InvalidInput("agency_id is required when code is empty or not national")
        rated = body.rated_at or now()
        rated = (
            (rated if rated.tzinfo else rated.replace(tzinfo=VN_TZ)).astimezone(VN_TZ).replace(microsecond=0)
        )
        record = {"id": body.id, "agency_id": agency_id, "code": code, "service": body.service,
                  "staff": body.staff, "rated_at": rated.isoformat()}  # fmt: skip
        created, stored = store.add_rating(record, device_id, now())
        if not created:
            response.status_code = 200
        return stored

    # --- administration -----------------------------------------------------------------------------

    @app.post(API + "/admin/enrollment-tokens", status_code=201, response_model=TokenOut, responses=_ERRORS)
    def new_token(
        body: Annotated[TokenIn | None, Body()] = None,
        _admin: None = Depends(admin),  # noqa: B008
    ) -> TokenOut:
        """Create a single-use enrollment token (admin)."""
        hours = (body.valid_hours if body and body.valid_hours else None) or settings.enrollment_token_hours
        current = now()
        token = store.create_enrollment_token(current, timedelta(hours=hours))
        return TokenOut(token=token, expires_at=(current + timedelta(hours=hours)).isoformat())

    @app.post(API + "/ingest/dvcqg", response_model=ReportOut, responses=_ERRORS)
    async def ingest_dvcqg(request: Request) -> JSONResponse:
        """National-portal payloads: DongBoHoSoMC records or CapNhatTienDoHoSoMC steps (admin)."""
        admin(request)
        payload = json_body(await request.body())
        return report(await _in_thread(ingestor.dvcqg, payload, now()))

    @app.post(API + "/ingest/records", response_model=ReportOut, responses=_ERRORS)
    async def ingest_records(request: Request) -> JSONResponse:
        """A JSON list of dossier objects, or text/csv with the documented header (admin)."""
        admin(request)
        raw = await request.body()
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == "text/csv":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("CSV must be UTF-8 text") from None
            return report(await _in_thread(ingestor.csv_text, text, now()))
        return report(await _in_thread(ingestor.records, json_body(raw), now()))

    @app.get("/fleet", response_class=HTMLResponse, responses=_ERRORS)
    def fleet(request: Request) -> HTMLResponse:
        """Enrolled devices with their last heartbeat (for ICT staff)."""
        if not settings.open_read:
            admin(request)
        return HTMLResponse(fleet_page(store.devices(), now()))

    return app


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run blocking store work off the event loop."""
    return await run_in_threadpool(fn, *args)
