"""The gateway's answers: commands → replies, limits, second factor, subscriptions, bad input, logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossier.gsm7 import is_gsm7
from dossier.gsm7 import segments as sms_segments
from dossier.model import Status, secret_hash
from sms_gateway.service import HELP_TEXT, ReplyOptions, SmsGateway, sender_phone
from sms_gateway.settings import SmsSection
from sms_gateway.store import PartIn, SmsStore
from tests.dossier.factory import make_dossier
from tests.sms_gateway.gateway_fakes import Clock, FakeLookup

T0 = 1_790_000_000.0  # 2026-09-21 ~ 20:53 UTC... the clock only needs to move forward
PHONE = "+84912345678"
D1 = make_dossier(1)
D2 = make_dossier(2, owner_phone_hash=secret_hash("0912345678"), owner_id4_hash=secret_hash("4321"))


class Rig:
    """A gateway on a real SQLite file with a fake lookup and a settable clock."""

    def __init__(self, tmp_path: Path, **sms: object) -> None:
        self.clock = Clock(T0)
        self.store = SmsStore(tmp_path / "sms.db", clock=self.clock)
        self.lookup = FakeLookup({D1.code: D1, D2.code: D2}, unavailable={make_dossier(9).code})
        self.gateway = SmsGateway(
            self.store,
            self.lookup,
            settings=SmsSection(**sms),
            replies=ReplyOptions(),
            clock=self.clock,  # type: ignore[arg-type]
        )
        self._pdu = 0

    def text(self, body: str, sender: str = PHONE, **kw: object) -> dict[str, object] | None:
        """Receive one SMS, handle it, and return its reply row (or None when not answered)."""
        self._pdu += 1
        self.gateway.store_incoming([PartIn("m0", sender, body, pdu=f"{self._pdu:08x}", **kw)])  # type: ignore[arg-type]
        self.gateway.process_pending()
        mid = self.store._scalar("SELECT MAX(id) FROM messages")
        row = self.store._query("SELECT id FROM outbox WHERE inbound_id = ?", (mid,))
        return self.store.outbox_row(row[0][0]) if row else None

    def reason(self) -> str:
        return str(self.store._scalar("SELECT reason FROM messages ORDER BY id DESC LIMIT 1"))


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def test_lookup_reply(rig: Rig) -> None:
    out = rig.text(f"HS {D1.code}")
    assert out is not None
    assert out["kind"] == "reply" and out["recipient"] == PHONE and out["phone"] == "0912345678"
    assert D1.code in out["text"] and "Dang giai quyet" in out["text"]
    assert "Nguyen V. A." in out["text"]  # masked name, no second factor configured
    assert is_gsm7(out["text"]) and not out["unicode"]


def test_code_alone_is_a_lookup_and_help_for_the_rest(rig: Rig) -> None:
    assert rig.text(f"{D1.code}")["kind"] == "reply"
    out = rig.text("xin chao")
    assert out["kind"] == "help" and out["text"] == HELP_TEXT
    assert rig.text("HS 123")["kind"] == "invalid"


def test_not_found_is_uniform_and_limited(tmp_path: Path) -> None:
    rig = Rig(tmp_path, not_found_hour=2)
    texts = [rig.text(f"HS {make_dossier(n).code}") for n in (5, 6, 7)]
    assert [t["kind"] if t else None for t in texts] == ["not_found", "not_found", None]
    assert rig.reason() == "not-found limit"
    a, b = texts[0]["text"], texts[1]["text"]
    assert a.replace(make_dossier(5).code, "X") == b.replace(make_dossier(6).code, "X")
    assert rig.text(f"HS {D1.code}")["kind"] == "reply"  # found codes still answered


def test_unavailable(rig: Rig) -> None:
    out = rig.text(f"HS {make_dossier(9).code}")
    assert out["kind"] == "unavailable" and "thu lai" in out["text"]


def test_second_factor(tmp_path: Path) -> None:
    rig = Rig(tmp_path, second_factor=True)
    other = "+84987654321"
    assert "Nguyen" not in rig.text(f"HS {D2.code}", sender=other)["text"]
    assert "Nguyen" not in rig.text(f"HS {D2.code} 9999", sender=other)["text"]  # wrong digits: state only
    assert "Nguyen V. A." in rig.text(f"HS {D2.code} 4321", sender=other)["text"]
    assert "Nguyen V. A." in rig.text(f"TC {D2.code}", sender=PHONE)["text"]  # the owner's phone
    assert "Nguyen" not in rig.text(f"HS {D1.code}", sender=other)["text"]  # no hashes: no full answer


def test_per_number_limits_and_daily_cap(tmp_path: Path) -> None:
    rig = Rig(tmp_path, per_number_hour=3, daily_cap=5)
    answered = [rig.text(f"HS {D1.code} #{i}") for i in range(4)]
    assert [a is not None for a in answered] == [True, True, True, False]
    assert rig.reason() == "per-number limit"
    rig.clock.advance(3601)
    assert rig.text(f"HS {D1.code} again") is not None
    assert rig.text(f"HS {D1.code}", sender="+84911111111") is not None
    assert rig.text(f"HS {D1.code}", sender="+84922222222") is None
    assert rig.reason() == "daily cap reached"


def test_duplicates_within_the_window_answered_once(rig: Rig) -> None:
    assert rig.text(f"HS {D1.code}") is not None
    assert rig.text(f"hs  {D1.code}") is None
    assert rig.reason() == "duplicate"
    rig.clock.advance(601)
    assert rig.text(f"HS {D1.code}") is not None


@pytest.mark.parametrize("sender", ["VIETTEL", "Vinaphone", "8188", "9029", "", "+84 91x"])
def test_no_replies_to_names_and_short_codes(rig: Rig, sender: str) -> None:
    assert rig.text(f"HS {D1.code}", sender=sender) is None
    assert rig.reason() in ("alphanumeric sender", "short code", "not a phone number")


@pytest.mark.parametrize(
    ("sender", "phone", "address"),
    [
        ("+84912345678", "0912345678", "+84912345678"),
        ("84912345678", "0912345678", "84912345678"),
        ("0912345678", "0912345678", "0912345678"),
        ("+1 (415) 555-0100", "+14155550100", "+14155550100"),
    ],
)
def test_number_formats(rig: Rig, sender: str, phone: str, address: str) -> None:
    out = rig.text(f"HS {D1.code}", sender=sender)
    assert out["phone"] == phone and out["recipient"] == address


def test_subscribe_and_unsubscribe(rig: Rig) -> None:
    out = rig.text(f"DK {D1.code}")
    assert out["kind"] == "subscribe" and "Da dang ky" in out["text"]
    assert [s[0] for s in rig.store.subscribers(D1.code, T0)] == ["0912345678"]
    assert "Da huy" in rig.text(f"HUY {D1.code}")["text"]
    assert rig.store.subscribers(D1.code, T0) == []
    rig.text(f"DK {D1.code}", sender="+84911111111")
    assert "Da huy 1" in rig.text("HUY", sender="+84911111111")["text"]


def test_only_the_registered_phone_may_subscribe(rig: Rig) -> None:
    out = rig.text(f"DK {D2.code}", sender="+84987654321")
    assert "Chi so dien thoai" in out["text"]
    assert rig.store.subscribers(D2.code, T0) == []
    assert "Da dang ky" in rig.text(f"DK {D2.code}", sender="0912345678")["text"]


def test_closed_dossier_needs_no_subscription(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.lookup.add(make_dossier(3, status=Status.RETURNED))
    out = rig.text(f"DK {make_dossier(3).code}")
    assert "da ket thuc" in out["text"] and rig.store.subscribers(make_dossier(3).code, T0) == []


@pytest.mark.parametrize(
    "body",
    [
        "😀🙏 HS " + D1.code,
        "'; DROP TABLE outbox; --",
        "x" * 1000,
        "\x00\x01binary\xff",
        "HS " + "0" * 300,
        "   ",
    ],
)
def test_bad_input_gets_a_sensible_answer_or_is_skipped(rig: Rig, body: str) -> None:
    out = rig.text(body)
    if out is None:
        assert rig.reason()
    else:
        assert is_gsm7(out["text"]) and sms_segments(out["text"]) <= 2
    assert rig.store._scalar("SELECT COUNT(*) FROM messages WHERE state = 'new'") == 0


def test_undecodable_part_is_set_aside_with_its_reason(rig: Rig) -> None:
    assert rig.text("", error="PDU truncated") is None
    assert rig.reason() == "undecodable PDU: PDU truncated"
    assert rig.store._scalar("SELECT state FROM messages") == "set_aside"
    assert rig.store.stats()["parts_undecodable"] == 1 and rig.store.stats()["messages"] == {"set_aside": 1}


class PoisonLookup(FakeLookup):
    """A lookup that fails for some codes the way the field saw: a cached row that no longer decodes
    (``InvalidRecord``), a dossier whose dates crash rendering, or storage gone."""

    def __init__(self, poison: dict[str, BaseException], **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.poison = poison

    def lookup(self, code, *, deadline=None):  # type: ignore[no-untyped-def]
        value = code.value if hasattr(code, "value") else code
        if value in self.poison:
            raise self.poison[value]
        return super().lookup(code, deadline=deadline)


def test_one_poison_message_is_set_aside_and_the_batch_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    from dossier.errors import InvalidRecord

    bad_row, bad_render = make_dossier(11).code, make_dossier(12).code
    rig.gateway.lookup_service = PoisonLookup(
        {
            bad_row: InvalidRecord("cached row no longer validates"),
            bad_render: OverflowError("date value out of range"),
        },
        dossiers={D1.code: D1},
    )
    senders = ["+84911000001", "+84911000002", "+84911000003"]
    for i, (sender, code) in enumerate(zip(senders, [bad_row, bad_render, D1.code], strict=True)):
        rig.gateway.store_incoming([PartIn("m0", sender, f"HS {code}", pdu=f"p{i:04x}")])
    assert rig.gateway.process_pending() == 3  # before: InvalidRecord re-raised and the batch stopped
    rows = rig.store._query("SELECT sender, state, reason FROM messages ORDER BY id")
    assert [(r[0], r[1]) for r in rows] == [
        (senders[0], "set_aside"), (senders[1], "set_aside"), (senders[2], "answered"),
    ]  # fmt: skip
    assert rows[0][2] == "InvalidRecord: cached row no longer validates"
    assert rows[1][2].startswith("OverflowError")
    assert rig.gateway.process_pending() == 0 and rig.gateway.set_aside == 2
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "set aside: InvalidRecord" in logged and "set aside: OverflowError at" in logged
    assert "out of range" not in logged and "911000001" not in logged


def test_only_a_storage_failure_pauses_the_batch(rig: Rig) -> None:
    from dossier.errors import StorageError

    down = make_dossier(13).code
    rig.gateway.lookup_service = PoisonLookup({down: StorageError("disk I/O error")}, dossiers={D1.code: D1})
    rig.gateway.store_incoming([PartIn("m0", PHONE, f"HS {down}", pdu="s1")])
    rig.gateway.store_incoming([PartIn("m0", "+84911000009", f"HS {D1.code}", pdu="s2")])
    with pytest.raises(StorageError):
        rig.gateway.process_pending()
    assert rig.store._scalar("SELECT COUNT(*) FROM messages WHERE state = 'new'") == 2  # kept, not set aside
    rig.gateway.lookup_service = FakeLookup({D1.code: D1, make_dossier(13).code: make_dossier(13)})
    assert rig.gateway.process_pending() == 2  # storage back: both answered


def test_multipart_joined_and_timeout_handles_what_arrived(rig: Rig) -> None:
    code = D1.code
    rig.gateway.store_incoming(
        [PartIn("m0", PHONE, "HS " + code[:10], pdu="a1", concat_ref=7, concat_total=2, concat_seq=1)]
    )
    rig.gateway.process_pending()
    assert rig.store._scalar("SELECT COUNT(*) FROM messages") == 0  # waits for part 2
    rig.gateway.store_incoming(
        [PartIn("m0", PHONE, code[10:], pdu="a2", concat_ref=7, concat_total=2, concat_seq=2)]
    )
    rig.gateway.process_pending()
    assert rig.store._scalar("SELECT text FROM messages") == f"HS {code}"
    rig.gateway.store_incoming(
        [PartIn("m0", PHONE, "HD", pdu="b1", concat_ref=8, concat_total=3, concat_seq=1)]
    )
    rig.gateway.process_pending()
    rig.clock.advance(121)
    rig.gateway.process_pending()
    row = rig.store._query("SELECT text, incomplete, state FROM messages ORDER BY id DESC LIMIT 1")[0]
    assert row[0].startswith("HD") and row[1:] == (1, "answered")


def test_duplicated_part_numbers_count_once(rig: Rig) -> None:
    parts = [
        PartIn("m0", PHONE, "HS ", pdu="c1", concat_ref=3, concat_total=2, concat_seq=1),
        PartIn("m0", PHONE, "HS ", pdu="c1bis", concat_ref=3, concat_total=2, concat_seq=1),
        PartIn("m0", PHONE, D1.code, pdu="c2", concat_ref=3, concat_total=2, concat_seq=2),
    ]
    rig.gateway.store_incoming(parts)
    rig.gateway.process_pending()
    assert rig.store._query("SELECT text, parts FROM messages") == [(f"HS {D1.code}", 3)]
    assert rig.store.waiting_parts() == []


def test_binary_message_is_recorded_and_skipped(rig: Rig) -> None:
    assert rig.text("\x00\x01", encoding="8bit") is None
    assert rig.reason() == "binary (8-bit) message"


def test_restart_answers_only_unanswered(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.text(f"HS {D1.code}")
    rig.gateway.store_incoming([PartIn("m0", "+84911111111", f"HS {D1.code}", pdu="zz")])
    rig.gateway.assemble_waiting()  # stored and joined, then the process dies before answering
    again = SmsGateway(SmsStore(tmp_path / "sms.db", clock=rig.clock), rig.lookup, clock=rig.clock)
    assert again.process_pending() == 1
    assert again.process_pending() == 0
    counts = rig.store._query("SELECT inbound_id, COUNT(*) FROM outbox GROUP BY inbound_id")
    assert [c for _, c in counts] == [1, 1]


def test_sender_phone() -> None:
    assert sender_phone("+84912345678", 9) == ("0912345678", "")
    assert sender_phone("VNPT", 9) == ("", "alphanumeric sender")
    assert sender_phone("1900123", 9) == ("", "short code")


def test_numbers_and_bodies_never_logged_in_clear(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret_body = f"HS {D1.code} 4321 toi la Nguyen Van An"
    for sender in (PHONE, "+84987654321", "8188"):
        rig.text(secret_body, sender=sender)
        rig.text(secret_body, sender=sender)  # duplicate path
    rig.text("xin chao", sender="+84911111111")
    lines = [r.getMessage() for r in caplog.records]
    assert any(r.levelno > logging.DEBUG for r in caplog.records)  # the skips were logged
    for line in lines:  # not even at DEBUG does the gateway write numbers or bodies
        for secret in ("912345678", "987654321", "911111111", "toi la", "4321", "xin chao"):
            assert secret not in line, line


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.text(max_size=300), st.sampled_from([f"HS {D1.code}", f"DK {D2.code}", "HUY", "?"])))
def test_replies_are_always_gsm7_within_budget(tmp_path: Path, body: str) -> None:
    rig = Rig(tmp_path / str(abs(hash(body))))
    out = rig.text(body, sender="+8491" + str(abs(hash(body)) % 10_000_000).zfill(7))
    if out is not None:
        assert is_gsm7(out["text"]) and not out["unicode"]
        assert sms_segments(out["text"]) <= 2
    rig.store.close()
