"""Who is calling: credentials (``Authorization: Bearer`` or ``X-Api-Key``), principals, the request guard.

``RequestGuard`` is ASGI middleware that runs before any route reads a body:

- a credential header that is not printable ASCII is refused with 401 (it can match no key or token);
- a write (POST, PUT, PATCH, DELETE) to a route under ``/api/v1/`` must carry a credential that resolves: the admin
  token for ``/api/v1/admin/`` and ``/api/v1/ingest/``, an enrolled device's key or the admin token for
  the others, nothing for the public ones (enrollment, which carries its token in the body). Otherwise
  the answer is 401 and the body is never read, so an anonymous 19 MB upload costs nothing (a method or
  path that no route serves is left to the router: 404 or 405, body unread);
- a body larger than ``max_body_bytes`` is refused with 413: by ``Content-Length`` before reading, and
  by counting while the route reads it (chunked uploads declare no length).

The principal the guard resolved is kept in ``request.state.principal``; the route dependencies
(``device_principal``, ``admin_principal``, ``read_principal`` in ``central.context``) reuse it.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from central.errors import Unauthorized
from central.responses import error_response

API = "/api/v1"
ADMIN_PREFIXES = (API + "/admin/", API + "/ingest/")
PUBLIC_WRITES = frozenset({API + "/devices/enroll"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_CREDENTIAL = 500

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an enrolled device (``device_id``) or the administrator."""

    kind: Literal["device", "admin"]
    device_id: str = ""


def credential(headers: Any) -> str | None:
    """The caller's key from ``Authorization: Bearer <key>`` or ``X-Api-Key``; None when neither is sent.

    Raises ``Unauthorized`` for a malformed header or one that is not printable ASCII.
    """
    header = headers.get("authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise Unauthorized("Authorization must be 'Bearer <key>'")
    else:
        value = headers.get("x-api-key", "").strip()
        if not value:
            return None
    if not (value.isascii() and value.isprintable()) or len(value) > MAX_CREDENTIAL:
        raise Unauthorized("the key is not a key this service issued")
    return str(value)


def is_admin_token(key: str, admin_token: str) -> bool:
    """Whether ``key`` is the admin token (constant time; an empty admin token disables admin calls)."""
    return bool(admin_token) and hmac.compare_digest(key.encode(), admin_token.encode())


class Authenticator:
    """Resolves keys: the admin token, else an enrolled device (``device_for_key`` may raise for revoked)."""

    def __init__(self, admin_token: str, device_for_key: Callable[[str], str | None]) -> None:
        self.admin_token = admin_token
        self.device_for_key = device_for_key

    def resolve(self, key: str) -> Principal | None:
        """The principal of ``key``, None when it is nobody's."""
        if is_admin_token(key, self.admin_token):
            return Principal("admin")
        device_id = self.device_for_key(key)
        return Principal("device", device_id) if device_id else None


def required(method: str, path: str) -> Literal["admin", "any", "none"]:
    """What a request must present before its body is read."""
    if method not in WRITE_METHODS or not path.startswith(API + "/") or path in PUBLIC_WRITES:
        return "none"
    return "admin" if path.startswith(ADMIN_PREFIXES) else "any"


class RequestGuard:
    """ASGI middleware: authenticate writes and bound body sizes before a route reads the body."""

    def __init__(
        self,
        app: Any,
        *,
        limit: int,
        authenticator: Callable[[], Authenticator],
        routes: Callable[[], Sequence[BaseRoute]],
    ) -> None:
        self.app = app
        self.limit = limit
        self.authenticator = authenticator
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request line and headers; pass a size-counting ``receive`` to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        need = required(scope["method"], scope["path"])
        try:
            key = credential(headers)
            if need != "none" and self._routed(scope):
                await self._authenticate(scope, key, need)
        except Unauthorized as err:
            await error_response(401, "unauthorized", str(err))(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared and (not (declared.isascii() and declared.isdecimal()) or int(declared) > self.limit):
            too_big = declared.isascii() and declared.isdecimal()
            status, code = (413, "too_large") if too_big else (400, "invalid")
            message = f"request body is larger than {self.limit} bytes" if too_big else "bad Content-Length"
            await error_response(status, code, message, {"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    async def _authenticate(self, scope: Scope, key: str | None, need: str) -> None:
        if key is None:
            raise Unauthorized("an API key or the admin token is required", hint="enroll the device")
        principal = await run_in_threadpool(self.authenticator().resolve, key)
        if principal is None:
            raise Unauthorized("unknown API key", hint="enroll the device again")
        if need == "admin" and principal.kind != "admin":
            raise Unauthorized("the admin token is required (Authorization: Bearer <admin_token>)")
        scope.setdefault("state", {})["principal"] = principal

    def _routed(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] == Match.FULL for route in self.routes())

    def _counting(self, receive: Receive) -> Receive:
        size = 0
        limit = self.limit

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise StarletteHTTPException(413, f"request body is larger than {limit} bytes")
            return message

        return counted
