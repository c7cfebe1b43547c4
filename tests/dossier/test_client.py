"""The central client against a real HTTP server on loopback, with scripted faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
from msgspec.structs import force_setattr

from dossier.client import CentralClient, dossier_from_portal_lookup
from dossier.errors import (
    CentralBadResponse,
    CentralRejected,
    CentralUnavailable,
    CursorExpired,
    DossierNotFound,
)
from dossier.model import Dossier, Status
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import State, scripted_central


@pytest.fixture
def server() -> Iterator[tuple[str, State]]:
    with scripted_central() as (url, state):
        for n in range(1, 6):
            state.put(make_dossier(n))
        yield url, state


def client(url: str, **kw: object) -> CentralClient:
    opts: dict[str, object] = {"connect_timeout": 1.0, "read_timeout": 1.0, "retries": 0}
    opts.update(kw)
    return CentralClient(url, **opts)  # type: ignore[arg-type]


def test_get_dossier(server: tuple[str, State]) -> None:
    url, _ = server
    d = client(url).get_dossier(make_dossier(1).code)
    assert d == make_dossier(1)


def test_not_found(server: tuple[str, State]) -> None:
    with pytest.raises(DossierNotFound):
        client(server[0]).get_dossier("000.00.15.H56-261110-0999")


def test_connection_refused_is_unavailable() -> None:
    with pytest.raises(CentralUnavailable):
        client("http://127.0.0.1:9").get_dossier("x")


def test_slower_than_the_deadline_is_unavailable(server: tuple[str, State]) -> None:
    url, state = server
    state.faults.delay = 2.0
    started = time.monotonic()
    with pytest.raises(CentralUnavailable):
        client(url).get_dossier(make_dossier(1).code, deadline=0.3)
    assert time.monotonic() - started < 1.9


def test_5xx_is_unavailable_and_retried_for_get(server: tuple[str, State]) -> None:
    url, state = server
    state.faults.status_5xx = 1
    page = client(url, retries=2, backoff=0.01).changes([], None)
    assert len(page.items) == 5
    assert len(state.requests) == 2  # one 503, one retry
    state.faults.status_5xx = 5
    with pytest.raises(CentralUnavailable):
        client(url, retries=1, backoff=0.01).changes([], None)


def test_deadline_calls_are_not_retried(server: tuple[str, State]) -> None:
    url, state = server
    state.faults.status_5xx = 1
    with pytest.raises(CentralUnavailable):
        client(url, retries=3).get_dossier(make_dossier(1).code, deadline=1.0)
    assert len(state.requests) == 1


@pytest.mark.parametrize(
    ("fault", "value", "message"),
    [
        ("malformed", True, "not valid JSON"),
        ("wrong_type", True, "text/html"),
        ("oversized", 5000, "more than"),
    ],
)
def test_bad_bodies_are_our_errors_not_crashes(
    server: tuple[str, State], fault: str, value: object, message: str
) -> None:
    url, state = server
    setattr(state.faults, fault, value)
    with pytest.raises(CentralBadResponse, match=message):
        client(url, max_body_bytes=1000).get_dossier(make_dossier(1).code)


def test_invalid_dossier_is_a_bad_response(server: tuple[str, State]) -> None:
    url, state = server
    bad = make_dossier(1)
    force_setattr(bad, "version", -5)
    state.dossiers[bad.code] = bad
    with pytest.raises(CentralBadResponse, match="version"):
        client(url).get_dossier(bad.code)


def test_changes_paging_etag_and_expiry(server: tuple[str, State]) -> None:
    url, state = server
    c = client(url)
    first = c.changes([], None, limit=3)
    assert len(first.items) == 3 and first.more
    second = c.changes([], first.cursor, limit=3)
    assert len(second.items) == 2 and not second.more
    same = c.changes([], second.cursor, etag=second.etag)
    assert same.not_modified
    state.faults.expired = True
    with pytest.raises(CursorExpired):
        c.changes([], second.cursor)


def test_bearer_token_and_401(server: tuple[str, State]) -> None:
    url, _ = server

    class Recording:
        def request(self, method, url, *, headers, body, timeout, retry, max_bytes, deadline):  # type: ignore[no-untyped-def]
            from dossier.client import RawResponse

            self.headers = headers
            return RawResponse(
                401,
                {"content-type": "application/json"},
                b'{"error": {"code": "unauthorized", "message": "no"}}',
            )

    rec = Recording()
    with pytest.raises(CentralRejected):
        CentralClient(url, api_key="k123", transport=rec).get_dossier("x")
    assert rec.headers["Authorization"] == "Bearer k123"


def test_portal_style_lookup_maps_to_the_model() -> None:
    answer = {
        "error_code": "0",
        "data": [
            {
                "MaHoSo": "000.00.15.H56-240315-0001",
                "MaTTHC": "1.001193",
                "TenDVC": "Đăng ký khai sinh",
                "HoTenNguoiNop": "Nguyễn Văn An",
                "MaTrangThai": "4",
                "TrangThaiHoSo": "Đang xử lý",
                "DonViXuLy": "UBND xã Tiên Nội",
                "MaDonViXuLy": "000.00.15.H56",
                "NgayNop": "20240315081200",
                "NgayTiepNhan": "20240315091200",
                "NgayHenTra": "20240320170000",
            }
        ],
    }
    d = dossier_from_portal_lookup(answer, "000.00.15.H56-240315-0001")
    assert d.status is Status.IN_PROGRESS and d.version == 0 and d.due_at is not None
    assert d.due_at.isoformat() == "2024-03-20T17:00:00+07:00"
    with pytest.raises(DossierNotFound):
        dossier_from_portal_lookup({"error_code": "-1", "data": []}, "x")
    with pytest.raises(CentralBadResponse):
        dossier_from_portal_lookup({"error_code": "0", "result": [{"MaTrangThai": "44"}]}, "x")
    assert json.dumps(d.to_json())


def test_an_invalid_change_in_a_page_names_its_item(server: tuple[str, State]) -> None:
    url, state = server
    bad = make_dossier(9)
    force_setattr(bad, "status", 42)
    state.log.append(bad)
    with pytest.raises(CentralBadResponse, match=r"item 5\): status"):
        client(url).changes([], None)


def test_changes_keep_each_items_json_text(server: tuple[str, State]) -> None:
    page = client(server[0]).changes([], None)
    assert len(page.bodies) == len(page.items) == 5
    assert all(Dossier.decode(b) == d for b, d in zip(page.bodies, page.items, strict=True))


def _bounded(fn, seconds: float):  # type: ignore[no-untyped-def]
    """Run ``fn`` on a thread; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(fn())
        except BaseException as err:  # noqa: BLE001 (handed to the test)
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    return outcome[0]


def test_retry_after_is_never_slept_but_returned_capped(server: tuple[str, State]) -> None:
    url, state = server
    state.faults.status_5xx = 1
    state.faults.retry_after = "3600"
    err = _bounded(lambda: client(url, retries=2, max_retry_after=60).changes([], None), 10)
    assert isinstance(err, CentralUnavailable) and err.retry_after == 60
    assert len(state.requests) == 1  # not retried behind the caller's back
    assert str(err) == "central is busy"


def test_retry_after_as_an_http_date(server: tuple[str, State]) -> None:
    url, state = server
    state.faults.status_5xx = 1
    state.faults.retry_after = "Wed, 21 Oct 2015 07:28:00 GMT"  # in the past: no wait
    err = _bounded(lambda: client(url, retries=2).changes([], None), 10)
    assert isinstance(err, CentralUnavailable) and err.retry_after == 0


@pytest.mark.parametrize("fault", ["trickle", "trickle_headers"])
def test_a_trickling_central_is_cut_at_the_deadline(server: tuple[str, State], fault: str) -> None:
    url, state = server
    setattr(state.faults, fault, 0.1)  # ~600 bytes: a minute; every single read is well within its timeout
    err = _bounded(lambda: client(url, read_timeout=5).get_dossier(make_dossier(1).code, deadline=0.5), 10)
    assert isinstance(err, CentralUnavailable) and str(err) == "central answered too slowly"


def test_calls_without_a_deadline_are_bounded_too(server: tuple[str, State]) -> None:
    url, state = server
    state.faults.trickle = 0.1
    c = client(url, read_timeout=5, retries=2, max_call_seconds=0.5)
    err = _bounded(lambda: c.get_dossier(make_dossier(1).code), 10)
    assert isinstance(err, CentralUnavailable)


def test_unreachable_central_is_one_short_line_and_the_detail_apart() -> None:
    with pytest.raises(CentralUnavailable) as info:
        client("http://127.0.0.1:9").get_dossier("000.00.15.H56-261110-0001")
    assert str(info.value) == "central refused the connection"
    assert "refused" in info.value.detail.lower()
    assert "0x" not in info.value.detail and "261110" not in info.value.detail


def test_send_heartbeats_and_report_inconsistencies(server: tuple[str, State]) -> None:
    url, state = server
    c = client(url, api_key="k1")
    hb = {"seq": 1, "sent_at": "2026-11-10T08:30:00+07:00", "version": "0.1", "role": "sms", "site": "x"}
    c.send_heartbeats([hb])
    item = {"id": 3, "code": "C", "cached_version": 5, "central_version": 4, "at": 1.0, "channel": "sms"}
    c.report_inconsistencies([item])
    c.report_inconsistencies([])  # nothing to send: no request
    assert [(p, b) for p, b, _ in state.posts] == [
        ("/api/v1/devices/heartbeats", {"heartbeats": [hb]}),
        ("/api/v1/devices/inconsistencies", {"items": [item]}),
    ]
    assert all(h["authorization"] == "Bearer k1" for _, _, h in state.posts)
    with pytest.raises(ValueError):
        c.send_heartbeats([])
    with pytest.raises(ValueError):
        c.report_inconsistencies([item] * 501)
    state.faults.post_status = 422
    with pytest.raises(CentralBadResponse, match="422"):
        c.send_heartbeats([hb])
    state.faults.status_5xx = 1
    with pytest.raises(CentralUnavailable):
        c.report_inconsistencies([item])
