"""A small central API on loopback whose faults tests can script (slow, 5xx, malformed, oversized...).

It speaks the same contract as the reference service for the calls the core uses; the contract tests in
test_central_contract.py run against both, so this fake is trusted only as far as the real one agrees.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from dossier.model import Dossier


@dataclass
class Faults:
    """What the server does wrong next; counters decrement as faults are served."""

    delay: float = 0.0
    status_5xx: int = 0  # answer the next N requests with 503
    retry_after: str = ""
    malformed: bool = False
    oversized: int = 0  # bytes of junk in the body
    wrong_type: bool = False
    expired: bool = False  # answer 410 to any request with a cursor (for client tests)
    drop_after_fetch: bool = False
    trickle: float = 0.0  # send dossier answers one byte every this many seconds (headers first)
    trickle_headers: float = 0.0  # send even the status line and headers one byte at a time
    post_status: int = 204  # answer to POSTs


@dataclass
class State:
    """The server's data: dossiers by code and a change log of codes."""

    dossiers: dict[str, Dossier] = field(default_factory=dict)
    log: list[Dossier] = field(default_factory=list)  # each change as it was sent
    faults: Faults = field(default_factory=Faults)
    requests: list[str] = field(default_factory=list)
    duplicate_pages: bool = False
    epoch: int = 0
    posts: list[tuple[str, dict[str, object], dict[str, str]]] = field(
        default_factory=list
    )  # path, body, headers
    stopped: threading.Event = field(default_factory=threading.Event)

    def compact(self) -> None:
        """Keep only the newest change per dossier; cursors from before are expired (410)."""
        self.log = [self.dossiers[c] for c in dict.fromkeys(d.code for d in self.log) if c in self.dossiers]
        self.epoch += 1

    def put(self, dossier: Dossier) -> None:
        """Add or change a dossier (appends to the change log)."""
        if dossier.version >= getattr(self.dossiers.get(dossier.code), "version", -1):
            self.dossiers[dossier.code] = dossier
        self.log.append(dossier)


def _cursor(epoch: int, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{epoch}:{seq}".encode()).decode()


def _parse(cursor: str) -> tuple[int, int]:
    epoch, seq = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
    return int(epoch), int(seq)


class _Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, format: str, *args: object) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (deadlines)
            super().handle()

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(
            status, json.dumps({"error": {"code": code, "message": message}}).encode(), headers=headers
        )

    def _trickle(self, data: bytes, every: float) -> None:
        """Write ``data`` one byte at a time (a central that keeps a connection barely alive)."""
        for i in range(len(data)):
            if self.state.stopped.wait(every):
                return
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        st = self.state
        st.requests.append(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        st.posts.append((self.path, body, {k.lower(): v for k, v in self.headers.items()}))
        if st.faults.status_5xx > 0:
            st.faults.status_5xx -= 1
            return self._error(503, "internal", "busy")
        if st.faults.post_status == 204:
            self.send_response(204)
            self.end_headers()
            return None
        return self._error(st.faults.post_status, "bad_request", "refused")

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        st = self.state
        st.requests.append(self.path)
        f = st.faults
        if f.delay:
            time.sleep(f.delay)
        if f.trickle_headers:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Pad: " + b"." * 600
            return self._trickle(head + b"\r\n\r\n{}", f.trickle_headers)
        if f.status_5xx > 0:
            f.status_5xx -= 1
            headers = {"Retry-After": f.retry_after} if f.retry_after else None
            return self._error(503, "internal", "busy", headers)
        if f.malformed:
            return self._send(200, b'{"code": "000.00.15.H56-2403')
        if f.wrong_type:
            return self._send(200, b"<html>login</html>", ctype="text/html")
        if f.oversized:
            return self._send(200, b'{"x": "' + b"a" * f.oversized + b'"}')
        url = urlsplit(self.path)
        if url.path.startswith("/api/v1/dossiers/"):
            code = unquote(url.path.rsplit("/", 1)[1])
            d = st.dossiers.get(code)
            if d is None:
                return self._error(404, "not_found", f"no dossier {code}")
            body = json.dumps(d.to_json()).encode()
            if f.trickle:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                return self._trickle(body, f.trickle)
            return self._send(200, body)
        if url.path == "/api/v1/changes":
            q = parse_qs(url.query)
            cursor = q.get("cursor", [""])[0]
            epoch, start = _parse(cursor) if cursor else (st.epoch, 0)
            if cursor and (f.expired or epoch != st.epoch):
                return self._error(410, "cursor_expired", "cursor expired")
            limit = int(q.get("limit", ["500"])[0])
            agencies = set(q.get("agency", []))
            etag = f'"{start}-{len(st.log)}"'
            if self.headers.get("If-None-Match") == etag and start >= len(st.log):
                return self._send(304, b"", headers={"ETag": etag})
            end = min(len(st.log), start + limit)
            items = [d.to_json() for d in st.log[start:end] if not agencies or d.agency_id in agencies]
            if st.duplicate_pages:
                items = items + list(reversed(items))
            body = {"items": items, "cursor": _cursor(st.epoch, end), "more": end < len(st.log)}
            return self._send(200, json.dumps(body).encode(), headers={"ETag": f'"{end}-{len(st.log)}"'})
        return self._error(404, "not_found", "no such endpoint")


@contextmanager
def scripted_central(state: State | None = None) -> Iterator[tuple[str, State]]:
    """Run the scripted server on 127.0.0.1; yields (base_url, state)."""
    st = state or State()
    st.stopped.clear()
    handler = type("Handler", (_Handler,), {"state": st})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", st
    finally:
        st.stopped.set()
        server.shutdown()
        server.server_close()
