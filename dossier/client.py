"""Client of the province's central status API: typed calls over the transport seam.

Every call has connect and read timeouts and a wall-clock bound over the whole exchange; idempotent
calls retry with backoff and jitter; a ``Retry-After`` is never slept here but returned, capped, in
``CentralUnavailable.retry_after`` for the caller's own backoff. Bodies are size-limited, type-checked
and validated against the model. HTTP itself (and the translation of its exceptions) lives in
``dossier.transport``; tests may pass their own ``Transport``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import msgspec

from dossier.errors import (
    CentralBadResponse,
    CentralRejected,
    CentralUnavailable,
    CursorExpired,
    DossierNotFound,
    InvalidRecord,
)
from dossier.model import Dossier, Status, explain_validation, parse_portal_time
from dossier.transport import USER_AGENT, RawResponse, RequestsTransport, Transport

__all__ = [
    "USER_AGENT",
    "CentralClient",
    "ChangesPage",
    "Enrollment",
    "RawResponse",
    "RequestsTransport",
    "Transport",
    "decode_changes_page",
    "dossier_from_portal_lookup",
]

log = logging.getLogger(__name__)

MAX_HEARTBEATS = 100
MAX_INCONSISTENCIES = 500


@dataclass(frozen=True)
class ChangesPage:
    """One page of the changes feed."""

    items: tuple[Dossier, ...]
    cursor: str
    more: bool
    etag: str = ""
    not_modified: bool = False
    bodies: tuple[bytes, ...] = ()  # the items' JSON text as received, when known (stored as is)


class _WirePage(msgspec.Struct, gc=False):
    items: list[msgspec.Raw]  # each change's JSON text, kept for the cache as received
    cursor: str
    more: bool


class _TypedItems(msgspec.Struct, gc=False):
    items: list[Dossier]  # every change validated in one pass over the page


_PAGE_DECODER = msgspec.json.Decoder(_WirePage)
_ITEMS_DECODER = msgspec.json.Decoder(_TypedItems)


def decode_changes_page(body: bytes) -> ChangesPage:
    """Validate a changes page's JSON text; raises ``CentralBadResponse`` naming a bad item."""
    try:
        page = _PAGE_DECODER.decode(body)
    except msgspec.ValidationError as err:
        raise CentralBadResponse(f"central sent an invalid changes page: {explain_validation(err)}") from None
    except (msgspec.DecodeError, RecursionError):
        raise CentralBadResponse("central sent malformed JSON") from None
    try:
        items = _ITEMS_DECODER.decode(body).items
    except (msgspec.ValidationError, RecursionError):
        items = []
        for index, raw in enumerate(page.items):  # again one by one, to name the bad item
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
        max_retry_after: float = 60.0,
        max_call_seconds: float = 120.0,
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
        self.max_retry_after = max_retry_after  # a longer Retry-After is cut to this (seconds)
        self.max_call_seconds = max_call_seconds  # wall-clock bound of a call without its own deadline
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
            max_retry_after=getattr(section, "max_retry_after", 60.0),
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

    def send_heartbeats(self, batch: Sequence[Mapping[str, Any]]) -> None:
        """Deliver 1..100 queued heartbeats (idempotent by device and ``seq``); 204 expected."""
        if not 1 <= len(batch) <= MAX_HEARTBEATS:
            raise ValueError(f"a heartbeat batch holds 1 to {MAX_HEARTBEATS} heartbeats, not {len(batch)}")
        resp = self._call("POST", "/api/v1/devices/heartbeats", body={"heartbeats": [dict(h) for h in batch]})
        self._expect_ok(resp)

    def report_inconsistencies(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Report cache/central mismatches (001 Art. 8.4) so central can re-synchronise; ≤ 500 items."""
        if not items:
            return
        if len(items) > MAX_INCONSISTENCIES:
            raise ValueError(f"at most {MAX_INCONSISTENCIES} inconsistencies per report, not {len(items)}")
        resp = self._call("POST", "/api/v1/devices/inconsistencies", body={"items": [dict(i) for i in items]})
        self._expect_ok(resp)

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
            deadline=self.max_call_seconds if deadline is None else deadline,
        )
        if resp.status in (401, 403):
            raise CentralRejected(
                f"central refused this device (HTTP {resp.status})", hint="enrol the device again"
            )
        if resp.status == 429 or resp.status >= 500:
            wait = _retry_after(resp.headers.get("retry-after", ""), self.max_retry_after)
            raise CentralUnavailable(
                "central is busy" if resp.status in (429, 503) else f"central answered HTTP {resp.status}",
                detail=f"HTTP {resp.status}" + (f", Retry-After {wait:.0f} s" if wait is not None else ""),
                retry_after=wait,
            )
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


def _retry_after(value: str, cap: float) -> float | None:
    """A ``Retry-After`` (seconds or an HTTP date) as seconds within ``[0, cap]``; ``None`` if absent."""
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text[:12]), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return min(max(when.timestamp() - time.time(), 0.0), cap)


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
