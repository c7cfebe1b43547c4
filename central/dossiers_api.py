"""Reads: a dossier by code, the changes feed, agencies, on-time statistics, health.

Hot paths (lookup, feed) return the stored JSON text as is, without pydantic models. Enrolled devices
get the full record (the owner hashes are their second factor); everyone else, where ``open_read``
lets them in at all, gets the citizen-facing view: the applicant's name masked, no hashes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from msgspec.structs import replace
from starlette.concurrency import run_in_threadpool

from central import feed
from central.context import Ctx, FullView
from central.errors import NotFound
from central.schemas import (
    CHANGES_RESPONSE,
    DOSSIER_RESPONSE,
    ERRORS,
    AgenciesOut,
    HealthOut,
    StatsOut,
)
from central.stats import on_time_stats
from dossier.errors import InvalidCode, InvalidInput
from dossier.model import Dossier, mask_name

API = "/api/v1"
JSON_TYPE = "application/json"
MAX_AGENCIES = 200

router = APIRouter()


def citizen_view(body: bytes) -> bytes:
    """The citizen-facing form of a stored dossier: the applicant's name masked, the owner hashes empty."""
    d = Dossier.decode(body)
    return replace(
        d, applicant_name=mask_name(d.applicant_name), owner_phone_hash="", owner_id4_hash=""
    ).encode()


@router.get(API + "/dossiers/{code:path}", responses={200: DOSSIER_RESPONSE, **ERRORS})
def get_dossier(code: str, ctx: Ctx, full: FullView) -> Response:
    """A dossier by its code (any mangling the code parser accepts)."""
    try:
        canonical = ctx.codes.parse(code).value
    except InvalidCode as err:
        raise InvalidInput(f"not a dossier code: {err.reason}") from None
    body = ctx.store.get_body(canonical)
    if body is None:
        raise NotFound(f"no dossier with code {canonical}")
    return Response(body if full else citizen_view(body), media_type=JSON_TYPE)


@router.get(
    API + "/changes",
    responses={200: CHANGES_RESPONSE, 304: {"description": "nothing new"}, **ERRORS},
)
async def changes(
    request: Request,
    ctx: Ctx,
    full: FullView,
    agency: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006 (FastAPI copies defaults)
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = feed.DEFAULT_LIMIT,
) -> Response:
    """Changed dossiers of the agencies after ``cursor`` (none: a full snapshot), in pages."""
    if len(agency) > MAX_AGENCIES:
        raise InvalidInput(f"at most {MAX_AGENCIES} agency parameters")
    answer = await run_in_threadpool(
        feed.changes_page,
        ctx.store,
        ctx.codec,
        agency,
        cursor,
        min(limit, feed.MAX_LIMIT),
        request.headers.get("if-none-match", ""),
        None if full else citizen_view,
    )
    headers = {"ETag": answer.etag, "Cache-Control": "no-cache"}
    if answer.status == 304:
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type=JSON_TYPE, headers=headers)


@router.get(API + "/stats/{agency_id}", responses={200: {"model": StatsOut}, **ERRORS})
def stats(
    agency_id: str,
    ctx: Ctx,
    full: FullView,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    month: Annotated[int | None, Query(ge=1, le=12)] = None,
) -> JSONResponse:
    """On-time statistics of an agency for a month or a year (Decision 766)."""
    if not ctx.store.agency_known(agency_id):
        raise NotFound(f"no dossiers of agency {agency_id[:64]}")
    current = ctx.now()
    return JSONResponse(on_time_stats(ctx.store, agency_id, year or current.year, month, current))


@router.get(API + "/agencies", responses={200: {"model": AgenciesOut}, **ERRORS})
def agencies(ctx: Ctx, full: FullView) -> JSONResponse:
    """Agencies that have dossiers here, with their names and counts."""
    return JSONResponse({"agencies": ctx.store.agencies()})


@router.get(API + "/health", responses={200: {"model": HealthOut}, **ERRORS})
def health(ctx: Ctx) -> JSONResponse:
    """Liveness: answers while the database is readable."""
    return JSONResponse({"ok": True, "dossiers": ctx.store.count(), "time": ctx.now().isoformat()})
