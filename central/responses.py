"""Error answers: every non-2xx response has the contract's body ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from central.errors import BadCursor, NotFound, TooLarge, Unauthorized
from dossier.errors import CursorExpired, InvalidInput, InvalidRecord, MotcuaError

log = logging.getLogger(__name__)

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 410: "cursor_expired", 413: "too_large"}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The contract's error body."""
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def classify(err: MotcuaError) -> tuple[int, str]:
    """HTTP status and error code of one of the project's errors."""
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


def one_line(text: str, limit: int = 300) -> str:
    """A message for people: one line, bounded."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def install_error_handlers(app: FastAPI) -> None:
    """Map the project's errors, validation errors, HTTP errors and anything else to contract bodies."""

    @app.exception_handler(MotcuaError)
    async def _motcua_error(request: Request, err: MotcuaError) -> JSONResponse:
        status, code = classify(err)
        if status == 500:
            log.error("%s %s failed: %s", request.method, request.url.path, err)
        return error_response(status, code, one_line(str(err)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return error_response(422, "invalid", one_line(f"{where}: {first.get('msg', 'invalid value')}"))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(err.status_code) or ("internal" if err.status_code >= 500 else "invalid")
        headers = dict(getattr(err, "headers", None) or {})
        if err.status_code == 413:
            headers["Connection"] = "close"  # the rest of the body is not read
        return error_response(err.status_code, code, one_line(str(err.detail)), headers or None)

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return error_response(500, "internal", "internal error; the service log has the details")
