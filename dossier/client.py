"""Client of the province's central status API: the only module that imports requests.

Every call has connect and read timeouts; idempotent calls retry with backoff and jitter (urllib3
``Retry``, honouring ``Retry-After``); bodies are size-limited, type-checked and validated against the
model. Foreign exceptions are translated here, once, into ``dossier.errors``. The transport is a seam:
tests may pass their own ``Transport``; production uses ``RequestsTransport``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import msgspec
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from dossier.errors import (
    CentralBadResponse,
    CentralRejected,
    CentralUnavailable,
    CursorExpired,
    DossierNotFound,
    InvalidRecord,
)
from dossier.model import Dossier, Status, explain_validation, parse_portal_time

log = logging.getLogger(__name__)

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
    ) -> RawResponse:
        """Send one request; raise ``CentralUnavailable`` or ``CentralBadResponse`` on failure."""
        ...


class RequestsTransport:
    """Production transport over a requests ``Session`` with urllib3 retries."""

    def __init__(self, *, retries: int = 2, backoff: float = 0.3, verify: bool | str = True) -> None:
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            backoff_jitter=backoff,
            backoff_max=10.0,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self._retrying = self._session(retry, verify)
        self._once = self._session(Retry(total=0, raise_on_status=False), verify)

    @staticmethod
    def _session(retry: Retry, verify: bool | str) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry, pool_connections=2, pool_maxsize=8)
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
    ) -> RawResponse:
        """Send one request and read at most ``max_bytes`` of the answer within the read timeout."""
        session = self._retrying if retry else self._once
        started = time.monotonic()
        try:
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
                    if time.monotonic() - started > timeout[0] + timeout[1] * (1 + bool(retry) * 3):
                        raise CentralUnavailable("central answered too slowly")
                headers_out = {k.lower(): v for k, v in resp.headers.items()}
                return RawResponse(resp.status_code, headers_out, b"".join(chunks))
        except requests.exceptions.SSLError as err:
            raise CentralRejected(f"TLS verification of central failed: {_short(err)}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            raise CentralUnavailable(f"central unreachable: {_short(err)}") from None
        except requests.exceptions.RetryError as err:
            raise CentralUnavailable(f"central kept failing: {_short(err)}") from None
        except requests.exceptions.RequestException as err:
            raise CentralBadResponse(f"bad exchange with central: {_short(err)}") from None


def _short(err: BaseException) -> str:
    text = str(err)
    return text if len(text) < 200 else text[:200] + "…"


@dataclass(frozen=True)
class ChangesPage:
    """One page of the changes feed."""

    items: tuple[Dossier, ...]
    cursor: str
    more: bool
    etag: str = ""
    not_modified: bool = False
    bodies: tuple[bytes, ...] = ()  # the items' JSON text as received, when known (stored as is)


class _WirePage(msgspec.Struct):
    items: list[msgspec.Raw]  # each change validated on its own, and its JSON text kept for the cache
    cursor: str
    more: bool


_PAGE_DECODER = msgspec.json.Decoder(_WirePage)


def decode_changes_page(body: bytes) -> ChangesPage:
    """Validate a changes page's JSON text; raises ``CentralBadResponse``."""
    try:
        page = _PAGE_DECODER.decode(body)
    except msgspec.ValidationError as err:
        raise CentralBadResponse(f"central sent an invalid changes page: {explain_validation(err)}") from None
    except msgspec.DecodeError:
        raise CentralBadResponse("central sent malformed JSON") from None
    items = []
    for index, raw in enumerate(page.items):
        try:
            items.append(Dossier.decode(raw))
        except InvalidRecord as err:
            raise CentralBadResponse(f"central sent an invalid change (item {index}): {err}") from None
    return ChangesPage(tuple(items), page.cursor, page.more, bodies=tuple(bytes(r) for r in page.items))


@dataclass(frozen=True)
class Enrollment:
    """Credentials a device receives when it enrols."""

    device_id: str
    api_key: str


class CentralClient:
    """Typed calls to the central status API (reference contract, or portal-style lookups)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        max_body_bytes: int = 4_000_000,
        adapter: str = "reference",
        dvcqg_service: str = "TraCuuHoSo",
        dvcqg_unit: str = "",
        transport: Transport | None = None,
        retries: int = 2,
        backoff: float = 0.3,
        verify: bool | str = True,
    ) -> None:
        if adapter not in ("reference", "dvcqg"):
            raise ValueError(f"unknown central adapter {adapter!r}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.max_body_bytes = max_body_bytes
        self.adapter = adapter
        self.dvcqg_service = dvcqg_service
        self.dvcqg_unit = dvcqg_unit
        self.transport: Transport = transport or RequestsTransport(
            retries=retries, backoff=backoff, verify=verify
        )

    @classmethod
    def from_config(cls, section: Any, transport: Transport | None = None) -> CentralClient:
        """Build from an ``appliance.config.CentralSection``."""
        verify: bool | str = section.ca_bundle or section.verify_tls
        return cls(
            section.url,
            api_key=section.api_key,
            connect_timeout=section.connect_timeout,
            read_timeout=section.read_timeout,
            max_body_bytes=section.max_body_bytes,
            adapter=section.adapter,
            dvcqg_service=section.dvcqg_service,
            dvcqg_unit=section.dvcqg_unit,
            transport=transport,
            retries=section.retries,
            backoff=section.backoff,
            verify=verify,
        )

    # --- calls ---------------------------------------------------------------------------------

    def get_dossier(self, code: str, *, deadline: float | None = None) -> Dossier:
        """The dossier with ``code``; ``deadline`` (seconds) bounds the whole call and disables retries."""
        if self.adapter == "dvcqg":
            return self._get_dossier_dvcqg(code, deadline)
        resp = self._call("GET", f"/api/v1/dossiers/{quote(code, safe='')}", deadline=deadline)
        if resp.status == 404:
            raise DossierNotFound(code)
        self._check_json(resp, expect=200)
        try:
            return Dossier.decode(resp.body)
        except InvalidRecord as err:
            raise CentralBadResponse(f"central sent an invalid dossier: {err}") from None

    def changes(
        self, agencies: Sequence[str], cursor: str | None, *, limit: int = 1000, etag: str = ""
    ) -> ChangesPage:
        """One page of the changes feed after ``cursor`` (``None``: from the start)."""
        params = [("agency", a) for a in agencies] + [("limit", str(limit))]
        if cursor:
            params.append(("cursor", cursor))
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
        headers = {"If-None-Match": etag} if etag else {}
        resp = self._call("GET", f"/api/v1/changes?{query}", extra_headers=headers)
        if resp.status == 304:
            return ChangesPage((), cursor or "", False, etag, not_modified=True)
        if resp.status == 410:
            raise CursorExpired("the changes cursor expired; a fresh snapshot is needed")
        self._check_json(resp, expect=200)
        page = decode_changes_page(resp.body)
        return ChangesPage(
            page.items, page.cursor, page.more, resp.headers.get("etag", ""), bodies=page.bodies
        )

    def enroll(self, token: str, name: str, kind: str) -> Enrollment:
        """Trade a single-use enrolment token for a device id and API key."""
        resp = self._call("POST", "/api/v1/devices/enroll", body={"token": token, "name": name, "kind": kind})
        data = self._json(resp, expect=201)
        if not (isinstance(data, dict) and isinstance(data.get("device_id"), str) and data.get("api_key")):
            raise CentralBadResponse("enrolment answer needs device_id and api_key")
        return Enrollment(data["device_id"], str(data["api_key"]))

    def heartbeat(self, status: Mapping[str, Any]) -> None:
        """Report this device's health."""
        resp = self._call("POST", "/api/v1/devices/heartbeat", body={"status": dict(status)})
        self._expect_ok(resp)

    def post_rating(self, rating: Mapping[str, Any]) -> None:
        """Store one satisfaction rating (idempotent by its ``id``)."""
        resp = self._call("POST", "/api/v1/ratings", body=dict(rating))
        self._expect_ok(resp)

    def stats(self, agency_id: str, year: int, month: int | None = None) -> dict[str, Any]:
        """On-time statistics of one agency for a month or a year."""
        query = f"year={year}" + (f"&month={month}" if month else "")
        resp = self._call("GET", f"/api/v1/stats/{quote(agency_id, safe='')}?{query}")
        data = self._json(resp, expect=200)
        if not isinstance(data, dict):
            raise CentralBadResponse("statistics must be a JSON object")
        return data

    # --- plumbing ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        deadline: float | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> RawResponse:
        headers = {"Accept": "application/json", **(extra_headers or {})}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body, ensure_ascii=False).encode()
        timeout = self.timeout
        if deadline is not None:
            timeout = (min(timeout[0], deadline), min(timeout[1], deadline))
        log.debug("central %s %s", method, path.split("?")[0])
        resp = self.transport.request(
            method,
            self.base_url + path,
            headers=headers,
            body=payload,
            timeout=timeout,
            retry=deadline is None and method == "GET",
            max_bytes=self.max_body_bytes,
        )
        if resp.status in (401, 403):
            raise CentralRejected(
                f"central refused this device (HTTP {resp.status})", hint="enrol the device again"
            )
        if resp.status == 429 or resp.status >= 500:
            raise CentralUnavailable(f"central answered HTTP {resp.status}")
        return resp

    def _expect_ok(self, resp: RawResponse) -> None:
        if not 200 <= resp.status < 300:
            raise CentralBadResponse(f"central answered HTTP {resp.status}: {_error_message(resp)}")

    def _check_json(self, resp: RawResponse, *, expect: int) -> None:
        if resp.status != expect:
            raise CentralBadResponse(f"central answered HTTP {resp.status}: {_error_message(resp)}")
        ctype = resp.headers.get("content-type", "")
        if not ctype.split(";")[0].strip().lower().endswith("json"):
            raise CentralBadResponse(f"central sent {ctype or 'no content type'}, not JSON")

    def _json(self, resp: RawResponse, *, expect: int) -> Any:
        self._check_json(resp, expect=expect)
        try:
            return json.loads(resp.body)
        except (ValueError, RecursionError):
            raise CentralBadResponse("central sent malformed JSON") from None

    def _get_dossier_dvcqg(self, code: str, deadline: float | None) -> Dossier:
        body = {"service": self.dvcqg_service, "madonvi": self.dvcqg_unit, "mahoso": code}
        resp = self._call("POST", "", body=body, deadline=deadline)
        data = self._json(resp, expect=200)
        return dossier_from_portal_lookup(data, code)


def _error_message(resp: RawResponse) -> str:
    try:
        data = json.loads(resp.body)
        return str(data["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return resp.body[:120].decode("utf-8", "replace")


def dossier_from_portal_lookup(data: Any, code: str) -> Dossier:
    """Map a national-portal-style ``TraCuuHoSo`` answer to the model (``version`` 0: unknown)."""
    if not isinstance(data, dict):
        raise CentralBadResponse("portal lookup answer must be a JSON object")
    err = str(data.get("error_code", "0"))
    rows = data.get("data", data.get("result"))
    if err not in ("0", "00") and not rows:
        raise DossierNotFound(code)
    if not isinstance(rows, list):
        raise CentralBadResponse("portal lookup answer needs a data list")
    if not rows:
        raise DossierNotFound(code)
    row = rows[0]
    if not isinstance(row, dict):
        raise CentralBadResponse("portal lookup row must be an object")

    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None else str(value)[:2000]

    def when(key: str) -> Any:
        value = text(key)
        return parse_portal_time(value, key) if value else None

    try:
        status = Status(int(text("MaTrangThai") or "0"))
        return Dossier(
            code=text("MaHoSo") or code,
            version=0,
            status=status,
            agency_id=text("MaDonViXuLy"),
            procedure_code=text("MaTTHC"),
            procedure_name=text("TenDVC"),
            applicant_name=text("HoTenNguoiNop"),
            handling_agency=text("DonViXuLy"),
            submitted_at=when("NgayNop"),
            received_at=when("NgayTiepNhan"),
            due_at=when("NgayHenTra"),
        )
    except (ValueError, InvalidRecord) as err:
        raise CentralBadResponse(f"portal lookup answer is invalid: {err}") from None
