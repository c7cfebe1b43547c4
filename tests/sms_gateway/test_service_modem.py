"""End to end with the real python-gsmmodem-new on the emulator's pseudo-terminal, the real lookup and cache."""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dossier.cache import Cache
from dossier.client import CentralClient
from dossier.gsm7 import is_gsm7
from dossier.lookup import LookupService
from dossier.model import Status
from sms_gateway.emulator import ModemEmulator
from sms_gateway.health import format_health, gateway_health
from sms_gateway.runtime import GatewayRuntime, RuntimeParts
from sms_gateway.service import ReplyOptions
from sms_gateway.settings import ModemSection, SmsSection
from tests.dossier.factory import make_dossier
from tests.queues import wait_until as wait_for

PHONE = "+84912345678"


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        modems: int = 1,
        replies: ReplyOptions | None = None,
        modem_kw: dict[str, Any] | None = None,
        **sms: object,
    ) -> None:
        self.cache = Cache(tmp_path / "cache.db")
        for n in range(1, 6):
            self.cache.put(make_dossier(n))
        central = CentralClient("http://127.0.0.1:9", connect_timeout=0.5, read_timeout=0.5, retries=0)
        self.lookup = LookupService(self.cache, central, fresh_seconds=1e9, central_deadline=1.0)
        self.emulators = [ModemEmulator() for _ in range(modems)]
        ports = [e.start() for e in self.emulators]
        settings = SmsSection(**{"interrupted_grace": 0.0, **sms})  # type: ignore[arg-type]
        self.runtime = GatewayRuntime(
            RuntimeParts(
                db_path=tmp_path / "sms.db",
                settings=settings,
                lookup=self.lookup,
                events=self.cache,
                replies=replies or ReplyOptions(),
                modems=tuple(
                    ModemSection(
                        **{"port": p, "sweep_interval": 2.0, "command_timeout": 5.0, **(modem_kw or {})}
                    )
                    for p in ports
                ),
                status_interval=0.5,
            )
        )
        self.runtime.start()
        for modem in self.runtime.modems:
            assert modem.wait_connected(30)

    def settled(self) -> bool:
        """Every message handled, nothing left to send, nothing left in the modems' memories."""
        store = self.runtime.store
        busy = store._scalar(
            "SELECT (SELECT COUNT(*) FROM messages WHERE state = 'new')"
            " + (SELECT COUNT(*) FROM inbound_parts WHERE message_id IS NULL)"
            " + (SELECT COUNT(*) FROM outbox WHERE state IN ('queued', 'sending', 'unconfirmed'))"
        )
        return busy == 0 and not any(e.stored() for e in self.emulators)

    def close(self) -> None:
        self.runtime.stop()
        for e in self.emulators:
            e.stop()
        self.lookup.close()
        self.cache.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    yield r
    r.close()


def test_lookup_by_sms(rig: Rig) -> None:
    emu = rig.emulators[0]
    code = make_dossier(1).code
    emu.inject_sms(PHONE, f"hs {code}")
    (reply,) = emu.wait_sent(1, 30)
    assert reply.to == PHONE and code in reply.text and "Dang giai quyet" in reply.text
    assert is_gsm7(reply.text) and reply.encoding == "gsm7"
    wait_for(
        lambda: (
            rig.runtime.store.stats()["outbox"]["sent"] + rig.runtime.store.stats()["outbox"]["delivered"]
            == 1
        )
    )


def test_multipart_in_and_out_and_ucs2_in(rig: Rig) -> None:
    emu = rig.emulators[0]
    code = make_dossier(2).code
    filler = "Xin chào, tôi muốn tra cứu hồ sơ của gia đình tôi đã nộp ở bộ phận một cửa. " * 3
    emu.inject_sms(PHONE, f"TRA CỨU {code} {filler}")  # UCS-2, several parts
    (reply,) = emu.wait_sent(1, 30)
    assert code in reply.text
    messages = rig.runtime.store._query("SELECT parts, text FROM messages")
    assert messages[0][0] >= 3 and messages[0][1].startswith("TRA CỨU")
    emu.inject_sms("+84911111111", "x" * 1000)  # 1,000 GSM-7 characters, 7 parts → help text
    replies = emu.wait_sent(2, 30)
    assert replies[1].to == "+84911111111" and "HS <ma ho so>" in replies[1].text


def test_two_part_reply_goes_out_as_two_parts(tmp_path: Path) -> None:
    rig = Rig(tmp_path, replies=ReplyOptions(segments=3))
    try:
        emu = rig.emulators[0]
        emu.inject_sms(PHONE, "?")
        rig.runtime.store.enqueue([])  # nothing; the help reply is one part
        (help_reply,) = emu.wait_sent(1, 30)
        assert help_reply.parts == 1
        from sms_gateway.store import Outgoing

        long_text = "Thong bao " + "ho so " * 60
        rig.runtime.store.enqueue([Outgoing(PHONE, long_text.strip(), "notify")])
        rig.runtime.bell.ring()
        sent = emu.wait_sent(2, 30)
        assert sent[1].parts == 3 and sent[1].text == long_text.strip()
    finally:
        rig.close()


def test_notification_reaches_subscriber(tmp_path: Path) -> None:
    # Equal start and end: no quiet hours, so the test means the same at any time of day
    # (quiet hours themselves are tested with a fake clock in test_notify.py).
    rig = Rig(tmp_path, quiet_start="00:00", quiet_end="00:00")
    try:
        emu = rig.emulators[0]
        code = make_dossier(3).code
        emu.inject_sms(PHONE, f"DK {code}")
        (ack,) = emu.wait_sent(1, 30)
        assert "Da dang ky" in ack.text
        rig.cache.put(make_dossier(3, version=2, status=Status.FINISHED))  # sync learns the new state
        assert rig.runtime.notifier is not None
        rig.runtime.notifier.tick()
        sent = emu.wait_sent(2, 30)
        assert sent[1].to == PHONE and "Da co ket qua" in sent[1].text
    finally:
        rig.close()


def test_bad_input_over_the_air(rig: Rig) -> None:
    emu = rig.emulators[0]
    emu.inject_sms("VIETTEL", "Khuyen mai 50%")  # operator promotion: no reply
    emu.inject_sms(PHONE, "😀🙏 cho hỏi")  # emoji → UCS-2 → help
    emu.inject_sms(PHONE, "", data=b"\x00\xff\x10binary")  # 8-bit data: recorded and skipped
    emu.inject_pdu("0791448720003023240DD0")  # malformed / truncated PDU
    emu.inject_sms("+84987654321", "'; DROP TABLE outbox; --")
    sent = emu.wait_sent(2, 30)
    wait_for(lambda: rig.runtime.store._scalar("SELECT COUNT(*) FROM messages WHERE state != 'new'") >= 5)
    wait_for(rig.settled)  # every reply that will ever go has gone: counting is exact, not timed
    assert sorted(m.to for m in emu.sent_messages()) == sorted([PHONE, "+84987654321"])
    assert all(is_gsm7(m.text) for m in sent)
    reasons = dict(rig.runtime.store._query("SELECT reason, COUNT(*) FROM messages GROUP BY reason"))
    assert reasons.get("alphanumeric sender") == 1
    assert reasons.get("binary (8-bit) message") == 1
    assert rig.runtime.store.stats()["parts_undecodable"] == 1
    assert rig.runtime.store.stats()["messages"].get("set_aside") == 1  # the malformed PDU, with its reason
    # still taking messages
    emu.inject_sms(PHONE, f"HS {make_dossier(4).code}")
    emu.wait_sent(3, 30)


def test_status(rig: Rig) -> None:
    emu = rig.emulators[0]
    emu.inject_sms(PHONE, f"HS {make_dossier(5).code}")
    emu.wait_sent(1, 30)
    wait_for(
        lambda: (
            gateway_health(rig.runtime.store)["running"]
            and gateway_health(rig.runtime.store)["modems"][0]["sent_parts"] >= 1
        )
    )
    h = gateway_health(rig.runtime.store)
    m = h["modems"][0]
    assert m["connected"] and m["sim_state"] and m["registration"] != "unknown"
    text = format_health(h)
    assert "gateway: running" in text and f"modem {rig.emulators[0].port}: connected" in text
    assert "912345678" not in text


def test_status_shows_the_lookup_breaker(tmp_path: Path) -> None:
    rig = Rig(tmp_path)  # central at 127.0.0.1:9 refuses every connection
    try:
        emu = rig.emulators[0]
        for n in range(20, 24):  # unknown codes: each lookup asks central and fails
            emu.inject_sms(PHONE, f"HS {make_dossier(n).code}")
        wait_for(
            lambda: (
                (gateway_health(rig.runtime.store).get("lookup") or {}).get("breaker", {}).get("state")
                == "open"
            )
        )
        h = gateway_health(rig.runtime.store)
        assert h["lookup"]["breaker"]["failures"] >= 3
        assert "lookup breaker: OPEN" in format_health(h)
    finally:
        rig.close()


def test_every_citizen_answered_exactly_once_after_an_unplug_and_replug(tmp_path: Path) -> None:
    rig = Rig(tmp_path, per_number_hour=100)
    try:
        emu = rig.emulators[0]
        citizens = [f"+8491200000{i}" for i in range(4)]
        emu.inject_sms(citizens[0], f"HS {make_dossier(1).code}")
        emu.wait_sent(1, 30)
        emu.unplug()
        wait_for(lambda: not rig.runtime.modems[0].connected)
        for i, citizen in enumerate(citizens[1:], start=2):  # the network holds them while unplugged
            emu.inject_sms(citizen, f"HS {make_dossier(i).code}")
        emu.replug()  # power-on settings: the held messages land on the SIM ("SM"), no notice
        assert len(emu.stored("SM")) == 3
        emu.wait_sent(4, 60)
        wait_for(rig.settled, 60)
        assert collections.Counter(m.to for m in emu.sent_messages()) == {c: 1 for c in citizens}
    finally:
        rig.close()


def test_reset_at_the_moment_of_a_delete_answers_once(tmp_path: Path) -> None:
    rig = Rig(tmp_path, modem_kw={"command_timeout": 1.0})
    try:
        emu = rig.emulators[0]
        wait_for(lambda: rig.runtime.modems[0].status().storage_total is not None)  # configured
        emu.set_faults(reset_at_command='AT+CPMS="ME";+CMGD')  # the delete is lost with the reset
        emu.inject_sms(PHONE, f"HS {make_dossier(1).code}")
        emu.wait_sent(1, 30)
        wait_for(lambda: emu.resets == 1 and rig.runtime.modems[0].status().resets_seen >= 1)
        wait_for(rig.settled, 30)  # read again after the reset: stored once (same PDU), answered once
        assert [m.to for m in emu.sent_messages()] == [PHONE]
        assert rig.runtime.store._scalar("SELECT COUNT(*) FROM messages") == 1
    finally:
        rig.close()


def test_the_runtime_never_builds_an_emulator(tmp_path: Path) -> None:
    from dossier.errors import InvalidInput
    from tests.sms_gateway.gateway_fakes import FakeLookup

    parts = RuntimeParts(
        db_path=tmp_path / "sms.db",
        settings=SmsSection(),
        lookup=FakeLookup(),
        modems=(ModemSection(emulated=True),),
    )
    with pytest.raises(InvalidInput, match="emulated modem"):
        GatewayRuntime(parts)
    import sms_gateway.runtime as runtime_module

    assert "emulator" not in " ".join(vars(runtime_module))  # injected by the composition root, not imported
