"""Satisfaction ratings from kiosks (003 Art. 13): ``POST /api/v1/ratings``, idempotent by ``id``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from central.context import Ctx, DeviceId
from central.schemas import ERRORS, RatingIn, RatingOut
from dossier.errors import InvalidCode, InvalidInput
from dossier.model import VN_TZ

API = "/api/v1"

router = APIRouter()


@router.post(
    API + "/ratings",
    status_code=201,
    response_model=RatingOut,
    responses={200: {"model": RatingOut, "description": "already stored (the first version wins)"}, **ERRORS},
)
def rating(body: RatingIn, response: Response, ctx: Ctx, device_id: DeviceId) -> dict[str, Any]:
    """Store a satisfaction rating; the same ``id`` again answers 200 with the stored one."""
    code = ""
    if body.code.strip():
        try:
            code = ctx.codes.parse(body.code).value
        except InvalidCode as err:
            raise InvalidInput(f"code: {err.reason}") from None
    agency_id = body.agency_id.strip() or (ctx.codes.parse(code).agency if code else "")
    if not agency_id:
        raise InvalidInput("agency_id is required when code is empty or not national")
    rated = body.rated_at or ctx.now()
    rated = (rated if rated.tzinfo else rated.replace(tzinfo=VN_TZ)).astimezone(VN_TZ).replace(microsecond=0)
    record = {"id": body.id, "agency_id": agency_id, "code": code, "service": body.service,
              "staff": body.staff, "rated_at": rated.isoformat()}  # fmt: skip
    created, stored = ctx.store.add_rating(record, device_id, ctx.now())
    if not created:
        response.status_code = 200
    return stored
