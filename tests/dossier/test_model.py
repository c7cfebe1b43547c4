"""The dossier model: wire form, validation, overdue, second-factor hashes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dossier.errors import InvalidRecord
from dossier.model import Dossier, Status, normalise_phone, parse_portal_time, secret_hash, secret_matches
from tests.dossier.factory import BASE, make_dossier


def test_json_round_trip() -> None:
    d = make_dossier(7, version=3)
    assert Dossier.from_json(d.to_json()) == d


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"status": 11}, "status: invalid enum value 11"),
        ({"status": "four"}, "status:"),
        ({"version": True}, "version: expected `int`"),
        ({"version": -1}, "version: expected `int` >= 0"),
        ({"code": ""}, "code: expected `str` of length >= 1"),
        ({"due_at": "tomorrow"}, "due_at:"),
        ({"due_at": "2026-11-10T08:00:00"}, "due_at:"),  # the contract needs an offset
        ({"applicant_name": 5}, "applicant_name: expected `str`"),
        ({"history": "x"}, "history: expected `array`"),
        ({"history": [{"action": "x"}]}, "history[0]: object missing required field `at`"),
        ({"procedure_name": "x" * 5000}, "procedure_name: expected `str` of length <= 2000"),
    ],
)
def test_invalid_records_name_the_field(patch: dict[str, object], message: str) -> None:
    data = make_dossier().to_json() | patch
    with pytest.raises(InvalidRecord) as info:
        Dossier.from_json(data)
    assert message in str(info.value)


def test_non_object_is_invalid() -> None:
    with pytest.raises(InvalidRecord):
        Dossier.from_json([1, 2])
    with pytest.raises(InvalidRecord, match="not valid JSON"):
        Dossier.decode(b'{"code": ')


def test_wire_text_round_trip() -> None:
    d = make_dossier(3)
    assert Dossier.decode(d.encode()) == d


def test_every_state_has_citizen_wording() -> None:
    for s in Status:
        assert s.vi and s.en and s.portal_name
    assert Status(5).portal_name == "Yêu cầu bổ sung giấy tờ"


def test_overdue_uses_the_due_date_as_given() -> None:
    d = make_dossier(due_at=BASE + timedelta(days=2))
    assert not d.is_overdue(BASE + timedelta(days=1))
    assert d.is_overdue(BASE + timedelta(days=3))
    finished_late = make_dossier(
        status=Status.FINISHED, finished_at=BASE + timedelta(days=3), due_at=BASE + timedelta(days=2)
    )
    assert finished_late.is_overdue(BASE)
    finished_early = make_dossier(
        status=Status.FINISHED, finished_at=BASE + timedelta(days=1), due_at=BASE + timedelta(days=2)
    )
    assert not finished_early.is_overdue(BASE + timedelta(days=10))


def test_portal_times_are_vietnam_time() -> None:
    t = parse_portal_time("20240315081200")
    assert t.isoformat() == "2024-03-15T08:12:00+07:00"
    with pytest.raises(InvalidRecord):
        parse_portal_time("2024-03-15")


@pytest.mark.parametrize(
    "raw", ["0912345678", "+84912345678", "84912345678", "091 234 5678", "+84 91-234-5678"]
)
def test_phone_normalisation(raw: str) -> None:
    assert normalise_phone(raw) == "0912345678"


@pytest.mark.parametrize("raw", ["12345", "VIETTEL", "+1 202 555 0100"])
def test_not_a_vietnamese_phone(raw: str) -> None:
    with pytest.raises(InvalidRecord):
        normalise_phone(raw)


def test_secret_hash_never_holds_the_secret() -> None:
    h = secret_hash("0912345678")
    assert "0912345678" not in h
    assert secret_matches(h, "0912345678")
    assert not secret_matches(h, "0912345679")
    assert not secret_matches("garbage", "0912345678")
    assert secret_hash("1234") != secret_hash("1234")  # salted
