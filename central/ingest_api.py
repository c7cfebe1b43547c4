"""Ingestion (admin): national-portal payloads, JSON lists of dossiers, CSV exports.

The guard (``central.auth``) has checked the admin token before the body is read; here the body is
read (bounded by ``max_body_bytes`` while reading), parsed with a nesting bound and ingested row by row
on a worker thread, so the event loop keeps serving lookups meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from central.context import Admin, CentralContext, Ctx
from central.ingest import Report, parse_json
from central.schemas import ERRORS, PORTAL_BODY, RECORDS_BODY, ReportOut
from dossier.errors import InvalidInput

API = "/api/v1"

router = APIRouter()


def _portal(ctx: CentralContext, raw: bytes, now: datetime) -> Report:
    report = ctx.ingestor.dvcqg(parse_json(raw), now)
    ctx.compact_if_needed()
    return report


def _records(ctx: CentralContext, raw: bytes, csv: bool, now: datetime) -> Report:
    if csv:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("CSV must be UTF-8 text") from None
        report = ctx.ingestor.csv_text(text, now)
    else:
        report = ctx.ingestor.records(parse_json(raw), now)
    ctx.compact_if_needed()
    return report


def _answer(report: Report) -> JSONResponse:
    return JSONResponse(report.to_json())


@router.post(API + "/ingest/dvcqg", response_model=ReportOut, responses=ERRORS, openapi_extra=PORTAL_BODY)
async def ingest_dvcqg(request: Request, ctx: Ctx, _admin: Admin) -> Any:
    """National-portal payloads: DongBoHoSoMC records or CapNhatTienDoHoSoMC steps (admin)."""
    raw = await request.body()
    return _answer(await run_in_threadpool(_portal, ctx, raw, ctx.now()))


@router.post(API + "/ingest/records", response_model=ReportOut, responses=ERRORS, openapi_extra=RECORDS_BODY)
async def ingest_records(request: Request, ctx: Ctx, _admin: Admin) -> Any:
    """A JSON list of dossier objects, or text/csv with the documented header (admin)."""
    csv = request.headers.get("content-type", "").split(";")[0].strip().lower() == "text/csv"
    raw = await request.body()
    return _answer(await run_in_threadpool(_records, ctx, raw, csv, ctx.now()))
