"""Emulator fidelity: separate SM, ME and SR memories, notices that name their memory, power-on defaults
after a replug or a reset, and messages stored while nobody listens (issue 7 §4).

The second half drives the real python-gsmmodem-new on the pty to show the emulator reproduces what
was seen in the field with real USB modems (messages stranded on the SIM after a replug)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from sms_gateway import pdu
from sms_gateway.emulator_at import AtEngine
from sms_gateway.emulator_types import ModemProfile
from tests.queues import wait_until

from .modem_harness import emulator
from .test_emulator import Wire

NOW = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)


def deliver(wire: Wire, text: str) -> None:
    wire.engine.network_deliver(pdu.encode_deliver("0912345678", text, timestamp=NOW)[0].hex)


def listed(wire: Wire, memory: str) -> list[str]:
    reply = wire.at(f'AT+CPMS="{memory}";+CMGL=4')
    return [
        m.text if isinstance(m := pdu.decode(line), pdu.Deliver) else "report"
        for line in reply.split("\r\n")
        if line.startswith("07")
    ]


@pytest.fixture
def wire() -> Wire:
    w = Wire(AtEngine(profile=ModemProfile(capacity={"SM": 2, "ME": 3, "SR": 2})))
    w.at("ATE0")
    w.at("AT+CMEE=1")
    return w


def test_cpms_offers_selects_and_reports_each_memory(wire: Wire) -> None:
    assert wire.at("AT+CPMS=?") == '\r\n+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")\r\n\r\nOK\r\n'
    assert '+CPMS: "SM",0,2,"SM",0,2,"SM",0,2' in wire.at("AT+CPMS?")  # power-on: the SIM
    assert "+CPMS: 0,3,0,2,0,2" in wire.at('AT+CPMS="ME"')  # <mem1> only; the others unchanged
    assert "+CPMS: 0,2,0,3,0,3" in wire.at('AT+CPMS="SR","ME","ME"')
    assert '+CPMS: "SR",0,2,"ME",0,3,"ME",0,3' in wire.at("AT+CPMS?")
    assert "+CMS ERROR: 302" in wire.at('AT+CPMS="SM","SR"')  # "SR" is not a memory to write to
    assert "+CMS ERROR: 302" in wire.at('AT+CPMS="XX"')


def test_memories_are_separate_stores_with_their_own_capacity(wire: Wire) -> None:
    wire.at("AT+CNMI=2,1,0,0,0")
    deliver(wire, "to the SIM")
    assert '+CMTI: "SM",1' in wire.advance(1)
    wire.at('AT+CPMS="SM","SM","ME"')
    for text in ("a", "b", "c", "d"):  # "ME" holds 3: the network holds the fourth
        deliver(wire, text)
    notices = "".join(wire.advance(0.06) for _ in range(6))
    assert [f'+CMTI: "ME",{i}' in notices for i in (1, 2, 3)] == [True] * 3
    assert len(wire.engine.held) == 1
    assert listed(wire, "SM") == ["to the SIM"] and listed(wire, "ME") == ["a", "b", "c"]
    assert "+CMS ERROR: 321" in wire.at('AT+CPMS="SM";+CMGR=2')  # index 2 exists in "ME" only
    freed = wire.at('AT+CPMS="ME";+CMGD=1') + wire.advance(0.06)  # the held message takes the slot
    assert '+CMTI: "ME",1' in freed
    assert listed(wire, "ME") == ["d", "b", "c"] and listed(wire, "SM") == ["to the SIM"]


def test_status_reports_go_to_sr_named_in_cdsi_or_come_as_cds(wire: Wire) -> None:
    (part,) = pdu.encode_submit("0912345678", "x", request_report=True)

    def send() -> str:
        wire.at(f"AT+CMGS={part.tpdu_length}")
        wire.at(part.hex + "\x1a", raw=True)
        return wire.advance(1)

    wire.at("AT+CNMI=2,1,0,2,0")
    assert '+CDSI: "SR",1' in send()
    wire.at("AT+CNMI=2,1,0,1,0")
    assert send().startswith("\r\n+CDS: ")  # routed to the client, not stored
    wire.at("AT+CNMI=2,1,0,0,0")
    assert send() == ""  # stored silently
    assert listed(wire, "SR") == ["report", "report"] and listed(wire, "SM") == []


def test_messages_stored_silently_at_power_on_settings_until_notices_are_asked_for(wire: Wire) -> None:
    engine = AtEngine()  # power-on: CNMI 0,0,0,0,0, everything in "SM"
    w = Wire(engine)
    deliver(w, "before CNMI")
    assert w.advance(1) == ""
    assert [e[1] for _, e in engine.mem.entries("SM")] and not engine.mem.entries("ME")


def test_direct_cmt_while_a_client_listens_stored_otherwise() -> None:
    engine = AtEngine(profile=ModemProfile(cnmi=(2, 2, 0, 0, 0), echo=False))
    w = Wire(engine)
    deliver(w, "direct")
    out = w.advance(1)
    assert out.startswith("\r\n+CMT: ,") and engine.mem.used("SM") == 0
    assert pdu.decode(out.split("\r\n")[2]).text == "direct"  # type: ignore[union-attr]
    engine.listening = False  # the port is closed: nobody would take it
    deliver(w, "nobody listens")
    assert w.advance(1) == "" and engine.mem.used("SM") == 1


def test_power_on_defaults_come_back_after_a_reset() -> None:
    profile = ModemProfile(preferred=("ME", "ME", "ME"), cnmi=(2, 2, 0, 0, 0), boot_urcs=("RDY", "+CFUN: 1"))
    engine = AtEngine(profile=profile)
    w = Wire(engine)
    assert w.advance(1) == "\r\nRDY\r\n" and w.advance(1) == "\r\n+CFUN: 1\r\n"
    w.at("ATE0")
    w.at('AT+CPMS="SM","SM","SM";+CNMI=2,1,0,2,0')
    assert (engine.echo, engine.cpms, engine.cnmi) == (False, ["SM"] * 3, [2, 1, 0, 2, 0])
    engine.faults.reset_at_command = "AT+CMGL"
    assert w.at("AT+CMGL=4") == "\r\nRDY\r\n"  # no answer: the modem restarted instead
    assert (engine.echo, engine.cpms, engine.cnmi, engine.resets) == (True, ["ME"] * 3, [2, 2, 0, 0, 0], 1)
    assert w.advance(1) == "\r\n+CFUN: 1\r\n"
    assert w.at("AT") == "AT\r\r\nOK\r\n"  # echo on again


def test_mt_is_the_sim_followed_by_the_modem_memory() -> None:
    profile = ModemProfile(
        capacity={"SM": 2, "ME": 2, "SR": 2}, read_memories=("SM", "ME", "MT", "SR"),
        receive_memories=("SM", "ME", "MT"), preferred=("MT", "MT", "MT"),
    )  # fmt: skip
    w = Wire(AtEngine(profile=profile))
    w.at("ATE0")
    for text in ("a", "b", "c"):
        deliver(w, text)
    assert listed(w, "SM") == ["a", "b"] and listed(w, "ME") == ["c"]
    assert "+CMGL: 3," in w.at('AT+CPMS="MT";+CMGL=4')
    w.at('AT+CPMS="MT";+CMGD=3')
    assert listed(w, "ME") == [] and listed(w, "MT") == ["a", "b"]


# ---------------------------------------------------------------- on the pty


def test_unplug_replug_back_at_power_on_settings_with_what_came_meanwhile_on_the_sim() -> None:
    with emulator() as emu:
        fd = os.open(emu.port, os.O_RDWR | os.O_NOCTTY)
        try:
            os.write(fd, b'ATE0\rAT+CPMS="ME","ME","ME";+CNMI=2,1,0,2,0\r')
            wait_until(lambda: emu.settings()["cnmi"] == (2, 1, 0, 2, 0), what="settings applied")
        finally:
            os.close(fd)
        emu.unplug()
        emu.inject_sms("0912345678", "while unplugged")
        assert emu.held_count() == 1 and not emu.stored()
        emu.replug()
        assert emu.settings() == {"echo": True, "cnmi": (0, 0, 0, 0, 0), "cpms": ("SM",) * 3,
                                  "text_mode": False}  # fmt: skip
        assert list(emu.stored("SM")) == [1] and not emu.stored("ME") and emu.held_count() == 0


def test_closed_port_is_noticed_and_direct_messages_are_stored() -> None:
    with emulator(profile=ModemProfile(cnmi=(2, 2, 0, 0, 0))) as emu:
        emu.inject_sms("0912345678", "nobody has the port open")
        wait_until(lambda: emu.stored("SM"), what="stored, not routed into the void")
        fd = os.open(emu.port, os.O_RDWR | os.O_NOCTTY)
        try:
            wait_until(lambda: emu._engine.listening, what="the client is seen")
            emu.inject_sms("0912345678", "to the listening client")
            got = b""
            while b"+CMT:" not in got or not got.endswith(b"\r\n"):
                got += os.read(fd, 4096)  # blocking read: the bound is the test timeout
            assert len(emu.stored("SM")) == 1
        finally:
            os.close(fd)


# ---------------------------------------------------------------- the real library shows the field bug

gsmmodem = pytest.importorskip("gsmmodem.modem")


def test_library_alone_strands_messages_the_replug_put_on_the_sim() -> None:
    with emulator() as emu:
        got: list = []
        lib = gsmmodem.GsmModem(emu.port, smsReceivedCallbackFunc=got.append)
        lib.connect()
        lib.close()
        emu.unplug()
        for i in range(3):
            emu.inject_sms(f"091234567{i}", f"sent during the replug {i}")
        emu.replug()
        lib = gsmmodem.GsmModem(emu.port, smsReceivedCallbackFunc=got.append)
        lib.connect()
        try:
            assert lib.listStoredSms() == []  # it lists "ME", its own choice; the SIM is never read
            assert len(emu.stored("SM")) == 3 and got == []
        finally:
            lib.close()
