"""The fleet pages' routes: sign-in, the overview, one device's page, revoke, sign-out.

Only a signed-in ICT staff member (session cookie) opens a page. Anyone else is sent to the sign-in
form; a request carrying a device's API key gets 403. Forms carry a CSRF token: on the sign-in form
it is matched against a short-lived cookie (double submit), afterwards against the session's own
token; a cross-site ``Origin`` is refused. Cookies are HttpOnly, SameSite=Strict, scoped to
``/fleet``, Secure when the request came over https, and expire with the session.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import parse_qs, quote, urlsplit

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from central import fleet
from central.fleet_context import FleetContext, read_body, request_key
from central.staff import Session
from dossier.errors import InvalidInput, MotcuaError

log = logging.getLogger(__name__)

SESSION_COOKIE = "motcua_fleet"
CSRF_COOKIE = "motcua_fleet_csrf"
COOKIE_PATH = "/fleet"
FORM_LIMIT = 10_000
LOGIN_FORM_SECONDS = 3600
HISTORY_ROWS = 200

_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send "Origin: null"
    "Cache-Control": "no-store",
}


def page(html: str, status: int = 200) -> HTMLResponse:
    """An HTML answer with the fleet pages' security headers."""
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def redirect(to: str) -> RedirectResponse:
    """303 See Other (after a form, or to the sign-in page)."""
    return RedirectResponse(to, status_code=303, headers={"Cache-Control": "no-store"})


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "") == "https"


def _cookie(request: Request, resp: Response, name: str, value: str, max_age: int) -> None:
    resp.set_cookie(name, value, max_age=max_age, path=COOKIE_PATH, httponly=True, samesite="strict",
                    secure=_secure(request))  # fmt: skip


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser form post (browsers send Origin on POST)
    return urlsplit(origin).netloc == request.headers.get("host", "")


async def _form(request: Request) -> dict[str, str]:
    raw = await read_body(request, FORM_LIMIT)
    try:
        fields = parse_qs(raw.decode("utf-8"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInput("the form could not be read") from None
    return {k: v[0] for k, v in fields.items()}


def add_routes(router: APIRouter, ctx: FleetContext) -> None:
    """Add the fleet pages to ``router``."""

    def session(request: Request) -> Session | None:
        return ctx.staff.session(request.cookies.get(SESSION_COOKIE), ctx.epoch())

    def refuse(request: Request) -> Response:
        """Not signed in: devices get 403, everyone else the sign-in form."""
        try:
            key = request_key(request)
        except MotcuaError:
            key = None
        if key:
            try:
                is_device = ctx.device_for_key(key) is not None
            except MotcuaError:
                is_device = True  # a revoked device key
            if is_device:
                return page(fleet.message_page("403", "Thiết bị không được mở trang này / devices cannot "
                                                      "open the fleet page"), 403)  # fmt: skip
        return redirect("/fleet/login")

    def rows() -> list[fleet.DeviceRow]:
        return fleet.device_rows(ctx.registry.devices(), ctx.fleet.states(), ctx.epoch(), ctx.offline_after)

    @router.get("/fleet", response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request) -> Response:
        """Devices grouped by site, offline first (signed-in staff)."""
        s = session(request)
        if s is None:
            return refuse(request)
        return page(fleet.fleet_page(rows(), ctx.now(), user=s.user, csrf=s.csrf))

    @router.get("/fleet/devices/{device_id}", response_class=HTMLResponse, include_in_schema=False)
    def device(device_id: str, request: Request) -> Response:
        """One device's state, checks, inconsistencies and heartbeat history (signed-in staff)."""
        s = session(request)
        if s is None:
            return refuse(request)
        enrolled = [d for d in ctx.registry.devices() if d["id"] == device_id]
        state = ctx.fleet.state(device_id) if enrolled else None
        found = fleet.device_rows(enrolled, [state] if state else [], ctx.epoch(), ctx.offline_after)
        row = found[0] if found else None
        if row is None:
            return page(fleet.message_page("404", "Không có thiết bị này / no such device"), 404)
        history = ctx.fleet.history(device_id, HISTORY_ROWS)
        incons = ctx.fleet.inconsistencies(device_id)
        return page(fleet.device_page(row, history, incons, ctx.now(), user=s.user, csrf=s.csrf))

    @router.get("/fleet/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request) -> Response:
        """The sign-in form (already signed in: the overview)."""
        if session(request) is not None:
            return redirect("/fleet")
        return _login_page(request, "")

    def _login_page(request: Request, error: str, status: int = 200) -> Response:
        nonce = secrets.token_urlsafe(24)
        resp = page(fleet.login_page(csrf=nonce, error=error), status)
        _cookie(request, resp, CSRF_COOKIE, nonce, LOGIN_FORM_SECONDS)
        return resp

    @router.post("/fleet/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> Response:
        """Check the account (or the admin token) and start a session."""
        form = await _form(request)
        expected = request.cookies.get(CSRF_COOKIE, "")
        if (
            not _same_origin(request)
            or not expected
            or not hmac.compare_digest(form.get("csrf", ""), expected)
        ):
            return _login_page(request, "Biểu mẫu đã hết hạn, hãy thử lại / the form expired, try again", 403)
        now = ctx.epoch()
        try:
            user = await run_in_threadpool(
                ctx.staff.authenticate, form.get("user", "")[:64], form.get("password", ""), now
            )
        except InvalidInput as err:
            return _login_page(request, f"Sai tên hoặc mật khẩu / {err}", 401)
        token, s = await run_in_threadpool(ctx.staff.start, user, now)
        resp = redirect("/fleet")
        _cookie(request, resp, SESSION_COOKIE, token, int(s.expires_at - now))
        resp.delete_cookie(CSRF_COOKIE, path=COOKIE_PATH)
        return resp

    async def _checked(request: Request) -> Session | Response:
        s = await run_in_threadpool(session, request)
        if s is None:
            return refuse(request)
        form = await _form(request)
        if not _same_origin(request) or not hmac.compare_digest(form.get("csrf", ""), s.csrf):
            return page(fleet.message_page("403", "Biểu mẫu không hợp lệ / invalid form token"), 403)
        return s

    @router.post("/fleet/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        """End the session and forget the cookie."""
        s = await _checked(request)
        if isinstance(s, Response):
            return s
        await run_in_threadpool(ctx.staff.end, request.cookies.get(SESSION_COOKIE, ""))
        log.info("fleet session ended for %s", s.user)
        resp = redirect("/fleet/login")
        resp.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)
        return resp

    @router.post("/fleet/devices/{device_id}/revoke", include_in_schema=False)
    async def revoke(device_id: str, request: Request) -> Response:
        """Revoke a device's key from its page."""
        s = await _checked(request)
        if isinstance(s, Response):
            return s
        await run_in_threadpool(ctx.revoke, device_id, f"revoked by {s.user} on the fleet page")
        return redirect(f"/fleet/devices/{quote(device_id)}")
