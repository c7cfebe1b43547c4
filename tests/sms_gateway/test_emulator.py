"""The modem emulator: the AT engine byte by byte, and the real python-gsmmodem-new against its pty.

The second half also shows that each injected fault really reproduces the library bug it stands for
(so the adapter tests in test_modem.py prove something). These tests import ``gsmmodem`` directly: they
test the library itself, not our code.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from sms_gateway import pdu
from sms_gateway.emulator_at import AtEngine
from sms_gateway.emulator_types import ModemIdentity, ModemProfile
from tests.queues import wait_until

from .modem_harness import emulator

NOW = datetime(2024, 3, 15, 10, 0, tzinfo=UTC)


class Wire:
    """Drives an ``AtEngine`` like a client on a serial line."""

    def __init__(self, engine: AtEngine) -> None:
        self.engine = engine
        self.now = 0.0

    def at(self, command: str, *, raw: bool = False) -> str:
        echo = self.engine.receive((command + ("" if raw else "\r")).encode())
        out = b"".join(self.engine.step(self.now, NOW))
        return (echo + out).decode("latin-1")

    def advance(self, seconds: float) -> str:
        self.now += seconds
        return b"".join(self.engine.step(self.now, NOW)).decode("latin-1")


@pytest.fixture
def wire() -> Wire:
    w = Wire(AtEngine(profile=ModemProfile(capacity={"SM": 3, "ME": 5, "SR": 2})))
    w.at("ATE0")
    w.at("AT+CMEE=1")
    return w


def test_echo_is_on_after_power_up_and_off_after_ate0() -> None:
    w = Wire(AtEngine())
    assert w.at("AT") == "AT\r\r\nOK\r\n"
    assert w.at("ATE0") == "ATE0\r\r\nOK\r\n"
    assert w.at("AT") == "\r\nOK\r\n"


def test_replies_the_library_parses(wire: Wire) -> None:
    # the space after the colon matters (the library splits there)
    assert '+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")' in wire.at("AT+CPMS=?")
    assert "+CSCS" in wire.at("AT+CLAC")
    assert '+CSCS: ("GSM","IRA","UCS2")' in wire.at("AT+CSCS=?")
    assert "+CSQ: 21,99" in wire.at("AT+CSQ")
    assert "+CREG: 0,1" in wire.at("AT+CREG?")
    assert '+COPS: 0,0,"Viettel",7' in wire.at("AT+COPS?")
    assert "+CME ERROR: 4" in wire.at("AT+FOO?")
    assert "ERROR" in wire.at("AT+ZPAS?")


def test_pdu_send_prompt_and_reference(wire: Wire) -> None:
    (part,) = pdu.encode_submit("+84912345678", "Xin chao")
    assert wire.at(f"AT+CMGS={part.tpdu_length}") == "\r\n> "
    reply = wire.at(part.hex + "\x1a", raw=True)
    assert reply == "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    assert wire.engine.sent_parts[0].text == "Xin chao"
    assert wire.at(f"AT+CMGS={part.tpdu_length + 1}") == "\r\n> "
    assert "+CMS ERROR: 304" in wire.at(part.hex + "\x1a", raw=True)  # wrong length is refused


def test_send_delay_blocks_the_modem_like_a_network(wire: Wire) -> None:
    wire.engine.seconds_per_part = 3.0
    (part,) = pdu.encode_submit("0912345678", "x")
    wire.at(f"AT+CMGS={part.tpdu_length}")
    assert wire.at(part.hex + "\x1a", raw=True) == ""
    assert wire.at("AT+CSQ") == ""  # queued behind the send
    assert wire.advance(2.9) == ""
    assert wire.advance(0.2) == "\r\n+CMGS: 0\r\n\r\nOK\r\n\r\n+CSQ: 21,99\r\n\r\nOK\r\n"


def test_storage_full_holds_messages_until_a_slot_frees(wire: Wire) -> None:
    wire.at("AT+CNMI=2,1,0,1,0")
    for i in range(5):
        (p,) = pdu.encode_deliver("0912345678", f"m{i}", timestamp=NOW)
        wire.engine.network_deliver(p.hex)
    urcs = wire.advance(0) + wire.advance(0.06) + wire.advance(0.06)
    assert urcs.count("+CMTI") == 3 and len(wire.engine.held) == 2
    assert "+CPMS: 3,3" in wire.at('AT+CPMS="SM","SM","SM"')
    assert '+CMTI: "SM",1' in wire.at("AT+CMGD=1") + wire.advance(0.06) and len(wire.engine.held) == 1
    listing = wire.at("AT+CMGL=4")
    texts = [pdu.decode(line).text for line in listing.split("\r\n") if line.startswith("07")]
    assert texts == ["m3", "m1", "m2"]


def test_cms_error_fault_counts_down(wire: Wire) -> None:
    wire.engine.faults.cms_error_on_send = (2, 38)
    (part,) = pdu.encode_submit("0912345678", "x")
    results = []
    for _ in range(3):
        wire.at(f"AT+CMGS={part.tpdu_length}")
        results.append(wire.at(part.hex + "\x1a", raw=True).strip())
    assert results == ["+CMS ERROR: 38", "+CMS ERROR: 38", "+CMGS: 0\r\n\r\nOK"]


def test_swallowed_cmti_is_spliced_into_the_next_reply(wire: Wire) -> None:
    wire.at("AT+CNMI=2,1,0,1,0")
    wire.engine.faults.swallow_cmti_during_command = True
    (p,) = pdu.encode_deliver("0912345678", "hi", timestamp=NOW)
    wire.engine.network_deliver(p.hex)
    assert wire.advance(1) == ""
    assert wire.at("AT+CSQ") == '\r\n+CSQ: 21,99\r\n\r\n+CMTI: "SM",1\r\n\r\nOK\r\n'


def test_status_report_as_cds_or_cdsi(wire: Wire) -> None:
    wire.at("AT+CNMI=2,1,0,1,0")
    (part,) = pdu.encode_submit("0912345678", "x", request_report=True)
    wire.at(f"AT+CMGS={part.tpdu_length}")
    wire.at(part.hex + "\x1a", raw=True)
    urc = wire.advance(1)
    assert urc.startswith("\r\n+CDS: ")
    report = pdu.decode(urc.split("\r\n")[2])
    assert isinstance(report, pdu.StatusReport) and report.message_ref == 0 and report.delivered
    wire.at("AT+CNMI=2,1,0,2,0")
    wire.at(f"AT+CMGS={part.tpdu_length}")
    wire.at(part.hex + "\x1a", raw=True)
    assert '+CDSI: "SR",1' in wire.advance(1)


def test_pin_locks_sms_until_entered() -> None:
    w = Wire(AtEngine(identity=ModemIdentity(pin="1234")))
    w.at("ATE0")
    w.at("AT+CMEE=1")
    assert "+CPIN: SIM PIN" in w.at("AT+CPIN?")
    assert "+CME ERROR: 11" in w.at("AT+CMGL=4")
    assert "+CME ERROR: 16" in w.at('AT+CPIN="0000"')
    assert w.at('AT+CPIN="1234"').endswith("OK\r\n")
    assert "+CPIN: READY" in w.at("AT+CPIN?")


def test_text_mode_send_and_read(wire: Wire) -> None:
    wire.at("AT+CMGF=1")
    assert wire.at('AT+CMGS="0912345678"') == "\r\n> "
    assert "+CMGS: 0" in wire.at("HS 123\x1a", raw=True)
    assert wire.engine.sent_parts[0].to == "0912345678" and wire.engine.sent_parts[0].text == "HS 123"
    (p,) = pdu.encode_deliver("+84912345678", "tra cuu", timestamp=NOW)
    wire.engine.network_deliver(p.hex)
    listing = wire.at('AT+CMGL="ALL"')
    assert '+CMGL: 1,"REC UNREAD","+84912345678",,"24/03/15,10:00:00+00"\r\n\r\ntra cuu' in listing


# ---------------------------------------------------------------- the real library on the pty

gsmmodem = pytest.importorskip("gsmmodem.modem")


def library_modem(port: str, received: list, *, timeout_hint: float = 1.0):  # type: ignore[no-untyped-def]
    """The unrepaired library, as a gateway would use it naively."""
    lock = threading.Lock()

    def on_sms(sms):  # type: ignore[no-untyped-def]
        with lock:
            received.append(sms)

    modem = gsmmodem.GsmModem(port, smsReceivedCallbackFunc=on_sms)
    modem.connect()
    return modem


def test_library_connects_and_sends_through_the_emulator() -> None:
    with emulator() as emu:
        lib = library_modem(emu.port, [])
        try:
            assert lib.manufacturer == "motcua" and lib.networkName == "Viettel" and lib.signalStrength == 21
            lib.sendSms("+84912345678", "Xin chao")
            lib.sendSms("+84912345678", "Xin chào Việt Nam")  # UCS-2 works: +CSCS is in +CLAC
            lib.sendSms("0912345678", "y" * 200)
            sent = emu.wait_sent(3, 10)
            assert [(m.to, m.text, m.parts, m.encoding) for m in sent] == [
                ("+84912345678", "Xin chao", 1, "gsm7"),
                ("+84912345678", "Xin chào Việt Nam", 1, "ucs2"),
                ("0912345678", "y" * 200, 2, "gsm7"),
            ]
        finally:
            lib.close()


def test_library_receives_a_plain_message() -> None:
    with emulator() as emu:
        got: list = []
        lib = library_modem(emu.port, got)
        try:
            emu.inject_sms("0912345678", "HS 000.00.15.H56-240315-0001")
            wait_until(lambda: got, what="library callback")
            assert got[0].text == "HS 000.00.15.H56-240315-0001" and got[0].number == "0912345678"
        finally:
            lib.close()


def test_fault_swallowed_cmti_strands_a_message_with_the_library() -> None:
    with emulator() as emu:
        got: list = []
        lib = library_modem(emu.port, got)
        try:
            emu.set_faults(swallow_cmti_during_command=True)
            emu.inject_sms("0912345678", "stranded")
            assert lib.signalStrength == 21  # the +CMTI rides in this reply and is taken as part of it
            emu.set_faults(swallow_cmti_during_command=False)
            assert lib.signalStrength == 21  # idle again: still nothing announces the message
            assert got == [] and len(emu.stored()) == 1
        finally:
            lib.close()


def test_fault_double_cmti_library_handles_only_the_first() -> None:
    with emulator() as emu:
        got: list = []
        lib = library_modem(emu.port, got)
        try:
            emu.set_faults(double_cmti=True)
            with emu.together():  # both notices pending at once: one write, whatever the scheduling
                emu.inject_sms("0912345678", "one")
                emu.inject_sms("0912345678", "two")
            wait_until(lambda: got, what="first message")
            assert lib.signalStrength == 21  # the second +CMTI was dropped, not merely late
            assert [s.text for s in got] == ["one"] and len(emu.stored()) == 1
        finally:
            lib.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_fault_non_utf8_byte_kills_the_library_reader() -> None:
    with emulator() as emu:
        lib = library_modem(emu.port, [])
        try:
            emu.set_faults(non_utf8_byte=True)
            wait_until(lambda: not lib.rxThread.is_alive(), what="reader death")
            with pytest.raises(gsmmodem.TimeoutException):
                lib.write("AT+CSQ", timeout=1)
        finally:
            lib.alive = False
            lib.serial.close()


def test_fault_16bit_reference_loses_the_first_character_in_the_library() -> None:
    with emulator() as emu:
        got: list = []
        lib = library_modem(emu.port, got)
        try:
            text = "HS 000.00.15.H56-240315-0001 " + "z" * 150
            emu.inject_sms("0912345678", text, concat_ref16=True)
            wait_until(lambda: len(got) == 2, what="two parts")
            joined = "".join(s.text for s in sorted(got, key=lambda s: s.udh[0].number))
            assert joined == text[1:153] + text[154:]  # the first character of each part is gone
        finally:
            lib.close()


def test_fault_status_report_during_command_breaks_library_encoding() -> None:
    with emulator() as emu:
        lib = library_modem(emu.port, [])
        try:
            emu.set_faults(status_report_during_command=True)
            lib.sendSms("+84912345678", "report me")  # requests a report (CSMP 49 / SRR)
            wait_until(lambda: emu._engine.urcs, what="report pending")
            with pytest.raises((NotImplementedError, ValueError)):
                lib.smsEncoding = "UCS2"  # the +CDSI line in the reply makes it look unsupported
        finally:
            lib.close()


# ---------------------------------------------------------------- the interactive emulator (motcua sms emulate)


def test_interactive_citizen_texts_and_sees_the_reply() -> None:
    import io

    from sms_gateway.emulator_cli import run_interactive

    from .modem_harness import Inbox, adapter

    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            out = io.StringIO()

            def typed():  # type: ignore[no-untyped-def]
                yield "0912345678> HS 000.00.15.H56-240315-0001\n"
                (part,) = wait_until(lambda: inbox.parts, what="message at the gateway")
                modem.send(part.sender, "Ho so dang xu ly, hen tra 20/03")
                wait_until(lambda: "<< to" in out.getvalue(), what="reply printed")
                yield "!fault nonsense on\n"
                yield "and a second line from the same number\n"
                wait_until(lambda: len(inbox.parts) == 2, what="second message")

            assert run_interactive(emu, typed(), out) == 0
    text = out.getvalue()
    assert f"open {emu.port}" in text
    assert ">> from 0912345678: HS 000.00.15.H56-240315-0001" in text
    assert "<< to 0912345678: Ho so dang xu ly, hen tra 20/03" in text
    assert "unknown faults: nonsense" in text
    assert [p.sender for p in inbox.parts] == ["0912345678", "0912345678"]


def test_emulate_handler_runs_as_a_process_at_a_stable_link(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys

    from sms_gateway.modem import Modem

    from .modem_harness import Inbox

    link = tmp_path / "ttyEMU0"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys, argparse; from sms_gateway.emulator_cli import emulate_handler;"
         f"sys.exit(emulate_handler(argparse.Namespace(link={str(link)!r}, quiet=True, slots=30,"
         "seconds_per_part=None), None))"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert "modem emulator on" in (proc.stdout.readline() if proc.stdout else "")
        assert os.path.islink(link) and os.readlink(link).startswith("/dev/pts/")
        modem = Modem(str(link), store_incoming=Inbox())
        modem.start()
        try:
            assert modem.wait_connected(15)
            assert modem.send("0912345678", "via a separate process").parts == 1
        finally:
            modem.stop()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    assert not link.exists()


def test_esc_at_the_prompt_cancels_the_send_and_is_ignored_elsewhere(wire: Wire) -> None:
    (part,) = pdu.encode_submit("0912345678", "never sent")
    assert wire.at(f"AT+CMGS={part.tpdu_length}").endswith("> ")
    assert wire.at(part.hex[:10] + "\x1b", raw=True) == "\r\nOK\r\n"  # a PDU cut short, then ESC
    assert wire.engine.sent_parts == [] and wire.engine.data_mode is None
    assert wire.at("\x1bAT+CSQ") == "\r\n+CSQ: 21,99\r\n\r\nOK\r\n"  # ESC in command mode: dropped


def test_status_reports_wait_for_a_free_slot_in_sr(wire: Wire) -> None:
    wire.at("AT+CNMI=2,1,0,2,0")
    wire.engine.network_deliver(pdu.encode_deliver("0912345678", "m", timestamp=NOW)[0].hex)
    (part,) = pdu.encode_submit("0912345678", "x", request_report=True)
    for _ in range(3):  # "SR" holds 2: the third report waits in the network
        wire.at(f"AT+CMGS={part.tpdu_length}")
        wire.at(part.hex + "\x1a", raw=True)
    wire.advance(1)
    assert wire.engine.mem.used("SR") == 2 and len(wire.engine.held_reports) == 1
    assert wire.engine.mem.used("SM") == 1  # messages have their own memory: not crowded out
    wire.at('AT+CPMS="SR"')
    wire.at("AT+CMGD=2")
    assert isinstance(pdu.decode(wire.engine.mem.get("SR", 2)[1]), pdu.StatusReport)  # it took the slot
    assert '+CDSI: "SR",2' in "".join(wire.advance(1) for _ in range(6))
    assert not wire.engine.held_reports


def test_unplug_leaves_closing_the_pty_to_the_emulator_thread() -> None:
    """Closing the master fd from another thread while the emulator's thread polls or reads it let the
    number be reused by a new socket, which that thread then read from (an HTTP request vanished)."""
    import os

    from sms_gateway.emulator import ModemEmulator

    emulator = ModemEmulator()
    emulator.start()
    try:
        with emulator._lock:  # the emulator's thread cannot start a pass while this is held
            master = emulator._master
            assert master is not None
            emulator.unplug()
            os.fstat(master)  # still open: only the emulator's thread closes it, between two passes
            assert emulator._retired == [master]

        def closed() -> bool:
            with emulator._lock:
                return not emulator._retired

        wait_until(closed)  # the thread was woken and closes it on its next pass
    finally:
        emulator.stop()
