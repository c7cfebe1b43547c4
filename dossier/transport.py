"""HTTP to central: the only module that imports requests and urllib3.

Every request is bounded by a wall-clock deadline over the *whole* exchange (connect, headers, body,
retries): a watchdog shuts the request's sockets down when it passes, which ends any blocking read at
once, so a central that trickles one byte a second cannot hold a caller longer than its deadline.
urllib3 retries idempotent calls with backoff and jitter, but never waits out a ``Retry-After``: such an
answer comes back to the caller at once (the sync loop owns that wait, capped and interruptible).
Foreign exceptions are translated here into ``dossier.errors``; the library's own text goes only into
``CentralUnavailable.detail`` (for the log), never into the message a person sees.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from dossier.errors import CentralBadResponse, CentralRejected, CentralUnavailable

USER_AGENT = "motcua-edge/0.1"


@dataclass(frozen=True)
class RawResponse:
    """What a transport returns: status, lower-cased headers, and the body (already size-limited)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport(Protocol):
    """The seam between the client and HTTP."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: tuple[float, float],
        retry: bool,
        max_bytes: int,
        deadline: float,
    ) -> RawResponse:
        """Send one request within ``deadline`` seconds overall; raise ``CentralError`` subclasses."""
        ...


class _Watch:
    """Shuts a call's sockets down when its wall-clock deadline passes (ends any blocking ``recv``)."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left before the deadline (0 when passed)."""
        return max(0.0, self.ends - time.monotonic())

    def add(self, sock: socket.socket) -> None:
        """Watch one more socket of this call (a new or reused connection)."""
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def finish(self) -> None:
        """The call is over: its (pooled) sockets are no longer ours to shut."""
        with self._lock:
            self._done = True
            self._sockets.clear()
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also under TLS


_local = threading.local()


def _current_watch() -> _Watch | None:
    watch: _Watch | None = getattr(_local, "watch", None)
    return watch


def _watch_socket(sock: socket.socket | None) -> None:
    watch = _current_watch()
    if watch is not None and sock is not None:
        watch.add(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)  # from the first byte on: a TLS handshake is cut at the deadline too
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_socket(self.sock)  # a reused connection's socket, before waiting for the headers
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch_socket(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    """requests' adapter whose connections register their sockets with the current call's watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _Retry(Retry):
    """urllib3 retries that hand a ``Retry-After`` back to the caller and never outlive the deadline."""

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """Not when central named its own wait: the caller's backoff owns it (capped, interruptible)."""
        if has_retry_after:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def is_exhausted(self) -> bool:
        """Exhausted also when the call's deadline has passed."""
        watch = _current_watch()
        return super().is_exhausted() or (watch is not None and watch.remaining() <= 0)

    def sleep(self, response: Any = None) -> None:
        """Back off, but never past the call's deadline."""
        pause = self.get_backoff_time()
        watch = _current_watch()
        if watch is not None:
            pause = min(pause, watch.remaining())
        if pause > 0:
            time.sleep(pause)


class RequestsTransport:
    """Production transport over a requests ``Session`` with urllib3 retries and a per-call watchdog."""

    def __init__(self, *, retries: int = 2, backoff: float = 0.3, verify: bool | str = True) -> None:
        retry = _Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            backoff_jitter=backoff,
            backoff_max=10.0,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        self._retrying = self._session(retry, verify)
        self._once = self._session(_Retry(total=0, raise_on_status=False), verify)

    @staticmethod
    def _session(retry: Retry, verify: bool | str) -> requests.Session:
        session = requests.Session()
        adapter = _Adapter(max_retries=retry, pool_connections=2, pool_maxsize=8)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.verify = verify
        session.headers["User-Agent"] = USER_AGENT
        return session

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: tuple[float, float],
        retry: bool,
        max_bytes: int,
        deadline: float,
    ) -> RawResponse:
        """Send one request; the whole exchange ends within ``deadline`` seconds, whatever central does."""
        session = self._retrying if retry else self._once
        watch = _Watch(deadline)
        _local.watch = watch
        try:
            return self._exchange(session, method, url, headers, body, timeout, max_bytes, watch)
        except requests.exceptions.RequestException as err:
            raise _translate(err, watch.expired) from None
        except OSError as err:  # a read ended by the watchdog can surface as a bare socket error
            if watch.expired:
                raise _too_slow(err) from None
            raise CentralUnavailable("central unreachable", detail=_detail(err)) from None
        finally:
            watch.finish()
            _local.watch = None

    @staticmethod
    def _exchange(
        session: requests.Session,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: tuple[float, float],
        max_bytes: int,
        watch: _Watch,
    ) -> RawResponse:
        with session.request(
            method, url, headers=dict(headers), data=body, timeout=timeout, stream=True
        ) as resp:
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise CentralBadResponse(f"central sent {declared} bytes, more than {max_bytes}")
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_content(chunk_size=65536):
                total += len(chunk)
                if total > max_bytes:
                    raise CentralBadResponse(f"central sent more than {max_bytes} bytes")
                chunks.append(chunk)
            if watch.expired:  # the watchdog may have cut a body that then looked complete
                raise CentralUnavailable("central answered too slowly")
            headers_out = {k.lower(): v for k, v in resp.headers.items()}
            return RawResponse(resp.status_code, headers_out, b"".join(chunks))


def _translate(err: requests.exceptions.RequestException, expired: bool) -> Exception:
    """One short line for people; the library's text kept as ``detail`` for the log."""
    if expired:
        return _too_slow(err)
    detail = _detail(err)
    if isinstance(err, requests.exceptions.SSLError):
        return CentralRejected(
            "TLS verification of central failed", hint="check central.ca_bundle and the server certificate"
        )
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return CentralUnavailable("central did not accept a connection in time", detail=detail)
    if isinstance(err, requests.exceptions.Timeout):
        return CentralUnavailable("central did not answer in time", detail=detail)
    if isinstance(err, requests.exceptions.RetryError):
        return CentralUnavailable("central kept failing", detail=detail)
    if isinstance(err, requests.exceptions.ConnectionError):
        if "refused" in detail.lower():
            return CentralUnavailable("central refused the connection", detail=detail)
        if "resolution" in detail.lower() or "name or service" in detail.lower():
            return CentralUnavailable("central's host name does not resolve", detail=detail)
        return CentralUnavailable("central unreachable", detail=detail)
    return CentralBadResponse("bad exchange with central")


def _too_slow(err: BaseException) -> CentralUnavailable:
    return CentralUnavailable("central answered too slowly", detail=_detail(err))


_URL = re.compile(r"with url: \S+")
_OBJECT = re.compile(r"<[^<>]* object at 0x[0-9a-fA-F]+>:? ?")


def _detail(err: BaseException) -> str:
    """The library's text for the log: no request path (it holds a dossier code), no object reprs."""
    text = _OBJECT.sub("", _URL.sub("with url: …", str(err) or type(err).__name__))
    return text if len(text) < 300 else text[:300] + "…"
