"""Administration: single-use enrollment tokens for new devices (``Authorization: Bearer <admin_token>``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body

from central.context import Admin, Ctx
from central.schemas import ERRORS, TokenIn, TokenOut

API = "/api/v1"

router = APIRouter()


@router.post(API + "/admin/enrollment-tokens", status_code=201, response_model=TokenOut, responses=ERRORS)
def new_token(ctx: Ctx, _admin: Admin, body: Annotated[TokenIn | None, Body()] = None) -> TokenOut:
    """Create a single-use enrollment token (admin)."""
    hours = (body.valid_hours if body and body.valid_hours else None) or ctx.settings.enrollment_token_hours
    current = ctx.now()
    token = ctx.store.create_enrollment_token(current, timedelta(hours=hours))
    return TokenOut(token=token, expires_at=(current + timedelta(hours=hours)).isoformat())
