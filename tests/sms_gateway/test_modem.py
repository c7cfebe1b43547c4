"""Our modem adapter (real python-gsmmodem-new + pyserial, repaired) against the emulator on a real pty:
every failure mode of the library, the persistence contract, reconnects, sends and delivery reports."""

from __future__ import annotations

import logging
import os
import queue

import pytest

from dossier.errors import HardwareUnavailable, TemporaryError
from sms_gateway.modem import Modem
from sms_gateway.modem_types import (
    DeliveryReport,
    MessageRejected,
    ModemDown,
    ModemEvent,
    ModemUp,
    SendFailed,
)
from sms_gateway.reassembly import Part, assemble
from tests.queues import drain, wait_until

from .modem_harness import Inbox, adapter, emulator

CODE = "HS 000.00.15.H56-240315-0001"


def test_receives_deletes_after_storing_and_reports_status() -> None:
    with emulator() as emu:
        inbox = Inbox()

        def still_on_sim(parts):  # type: ignore[no-untyped-def]
            stored = emu.stored()
            assert all((p.storage_memory, p.storage_index) in stored for p in parts), "deleted before stored"

        inbox.check = still_on_sim
        with adapter(emu, inbox, sweep_interval=60) as modem:
            emu.inject_sms("0912345678", CODE)
            wait_until(lambda: inbox.parts, what="message stored")
            wait_until(lambda: not emu.stored(), what="message deleted from the SIM")
            part = inbox.parts[0]
            assert (part.sender, part.text, part.encoding, part.decode_error) == (
                "0912345678",
                CODE,
                "gsm7",
                "",
            )
            assert part.received_at is not None and part.raw_pdu_hex
            status = wait_until(lambda: modem.status().storage_total and modem.status(), what="status poll")
            assert (status.connected, status.signal, status.registration, status.operator) == (
                True,
                21,
                "home",
                "Viettel",
            )
            assert status.storage_total == 100  # the modem memory ("ME"), where we ask it to store them
            assert status.sim_state == "READY" and status.received_parts == 1


def test_messages_waiting_on_the_sim_at_start_are_swept() -> None:
    with emulator() as emu:
        for i in range(3):
            emu.inject_sms("0912345678", f"old {i}")
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=60):
            wait_until(lambda: len(inbox.parts) == 3, what="three old messages")
        assert sorted(inbox.texts()) == ["old 0", "old 1", "old 2"] and not emu.stored()


def test_swallowed_cmti_is_rescued_from_the_command_reply() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            emu.set_faults(swallow_cmti_during_command=True)
            emu.inject_sms("0912345678", "hidden in a reply")
            modem.send("0912345678", "any command will carry the +CMTI")  # the +CMTI rides in this reply
            wait_until(lambda: inbox.parts, what="rescued message")
        assert inbox.texts() == ["hidden in a reply"]


def test_periodic_sweep_finds_messages_without_any_cmti() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=0.5):
            emu.set_faults(swallow_cmti_during_command=True)  # no +CMTI ever reaches us while idle
            emu.inject_sms("0912345678", "found by the sweep")
            wait_until(lambda: inbox.parts, what="sweep")
        assert inbox.texts() == ["found by the sweep"]


def test_double_cmti_loses_nothing() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600):
            emu.set_faults(double_cmti=True)
            for i in range(4):
                emu.inject_sms("0912345678", f"burst {i}")
            wait_until(lambda: len(inbox.parts) == 4, what="four messages")
        assert sorted(inbox.texts()) == [f"burst {i}" for i in range(4)]


def test_non_utf8_byte_does_not_kill_the_reader() -> None:
    with emulator() as emu:
        inbox = Inbox()
        events: queue.Queue[ModemEvent] = queue.Queue()
        with adapter(emu, inbox, events, sweep_interval=600) as modem:
            emu.set_faults(non_utf8_byte=True)
            wait_until(lambda: not emu.faults.non_utf8_byte, what="noise sent")
            emu.inject_sms("0912345678", "after the noise")
            wait_until(lambda: inbox.parts, what="message after noise")
            assert modem.send("0912345678", "still talking").parts == 1
            assert modem.status().reconnects == 0
        assert not any(isinstance(e, ModemDown) for e in drain(events))


def test_undecodable_pdu_is_stored_raw_with_the_reason() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            emu.set_faults(undecodable_pdu=True)
            emu.inject_sms("0912345678", "this PDU will arrive truncated " * 3)
            emu.inject_pdu("ZZ")  # not even hexadecimal: kept raw as well
            emu.inject_sms("0912345678", "next one is fine")
            wait_until(lambda: len(inbox.parts) == 3, what="three parts")
            bad, zz, good = inbox.parts
            assert bad.decode_error and bad.raw_pdu_hex and bad.text == "" and bad.encoding == ""
            assert zz.raw_pdu_hex == "ZZ" and "hexadecimal" in zz.decode_error
            assert good.text == "next one is fine"
            assert modem.status().decode_errors == 2
            wait_until(lambda: not emu.stored(), what="all deleted after storing")


def test_16bit_reference_parts_keep_their_first_character_and_reassemble() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600):
            text = CODE + " " + "z" * 300
            emu.inject_sms("0912345678", text, concat_ref16=True)
            wait_until(lambda: len(inbox.parts) == 3, what="three parts")
        assert all(p.concat_ref16 for p in inbox.parts)
        parts = [Part.from_received(p, key=i, arrived=0.0) for i, p in enumerate(inbox.parts)]
        done, waiting = assemble(parts, now=1.0, timeout=60)
        assert waiting == [] and [d.text for d in done] == [text]


def test_multipart_ucs2_in_and_out() -> None:
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            text = "Hồ sơ của bạn đã được tiếp nhận 😀 " * 6
            emu.inject_sms("+84912345678", text)
            wait_until(lambda: len(inbox.parts) == 4, what="four UCS-2 parts")
            parts = [Part.from_received(p, key=i, arrived=0.0) for i, p in enumerate(inbox.parts)]
            assert [d.text for d in assemble(parts, now=0, timeout=60)[0]] == [text]
            result = modem.send("+84912345678", text, unicode=True)
            assert result.parts == 4 and len(result.message_refs) == 4
            result = modem.send("0912345678", "Ho so cua ban da duoc tiep nhan. " * 10)
            assert result.parts == 3
        sent = emu.sent_messages()
        assert [(m.text, m.encoding, m.parts) for m in sent] == [
            (text, "ucs2", 4),
            ("Ho so cua ban da duoc tiep nhan. " * 10, "gsm7", 3),
        ]


def test_status_report_during_a_command_becomes_an_event() -> None:
    with emulator() as emu:
        inbox = Inbox()
        events: queue.Queue[ModemEvent] = queue.Queue()
        with adapter(emu, inbox, events, sweep_interval=600) as modem:
            emu.set_faults(status_report_during_command=True)
            first = modem.send("+84912345678", "report me", request_report=True)
            wait_until(lambda: emu._engine.urcs, what="report pending in the modem")
            second = modem.send("+84912345678", "Việt Nam", unicode=True)  # its reply carries the +CDS
            assert second.parts == 1
            reports = wait_until(
                lambda: [e for e in drain(events) if isinstance(e, DeliveryReport)], what="report"
            )
        assert [(r.message_ref, r.delivered, r.to) for r in reports] == [
            (first.message_refs[0], True, "+84912345678")
        ]
        assert [m.text for m in emu.sent_messages()] == ["report me", "Việt Nam"]


def test_stored_status_reports_cdsi_are_swept_as_events() -> None:
    with emulator() as emu:
        events: queue.Queue[ModemEvent] = queue.Queue()
        with adapter(emu, Inbox(), events, sweep_interval=600) as modem:
            modem._cmd("AT+CNMI=2,1,0,2,0")  # reports stored on the SIM, announced by +CDSI
            result = modem.send("0912345678", "x", request_report=True)
            found = wait_until(
                lambda: [e for e in drain(events) if isinstance(e, DeliveryReport)], what="report"
            )
            assert found[0].message_ref == result.message_refs[0]
            wait_until(lambda: not emu.stored(), what="report deleted")


def test_storage_full_network_retries_and_everything_arrives() -> None:
    with emulator(storage_slots=5) as emu:
        for i in range(12):
            emu.inject_sms("0912345678", f"queued {i}")
        assert len(emu.stored()) == 5 and emu.held_count() == 7
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600):
            wait_until(lambda: len(inbox.parts) == 12, what="all twelve")
        assert sorted(inbox.texts()) == sorted(f"queued {i}" for i in range(12))


def test_store_failure_keeps_messages_on_the_sim_until_it_works() -> None:
    with emulator() as emu:
        inbox = Inbox()
        inbox.fail = True
        with adapter(emu, inbox, sweep_interval=0.3) as modem:
            emu.inject_sms("0912345678", "must not be lost")
            wait_until(lambda: inbox.calls >= 2, what="two failed store attempts")
            assert len(emu.stored()) == 1 and modem.status().store_failures >= 2
            inbox.fail = False
            wait_until(lambda: inbox.parts, what="stored at last")
            wait_until(lambda: not emu.stored(), what="deleted after storing")
        assert inbox.texts() == ["must not be lost"]


def test_unplug_replug_reconnects_and_receives_what_came_meanwhile(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sms_gateway.modem")
    with emulator() as emu:
        inbox = Inbox()
        events: queue.Queue[ModemEvent] = queue.Queue()
        with adapter(emu, inbox, events, sweep_interval=600) as modem:
            seen = wait_until(lambda: drain(events), what="ModemUp (configured, memories read)")
            emu.unplug()
            wait_until(lambda: not modem.connected, what="loss noticed")
            with pytest.raises(HardwareUnavailable):
                modem.send("0912345678", "nobody to send it")
            emu.inject_sms("0912345678", "sent while unplugged")
            emu.replug()
            assert modem.wait_connected(15)
            wait_until(lambda: inbox.parts, what="message after replug")
            assert modem.send("0912345678", "back").parts == 1
            assert modem.status().reconnects == 1
        kinds = [type(e) for e in seen + drain(events)]
        assert kinds == [ModemUp, ModemDown, ModemUp]
        lost = [r for r in caplog.records if r.levelno == logging.WARNING and "lost" in r.getMessage()]
        back = [r for r in caplog.records if r.levelno == logging.INFO and "connected" in r.getMessage()]
        assert len(lost) == 1 and len(back) == 2  # once each way (plus the first connect)


def test_cms_error_on_send_is_temporary_or_permanent_by_code() -> None:
    with emulator() as emu:
        with adapter(emu, Inbox(), sweep_interval=600) as modem:
            emu.set_faults(cms_error_on_send=(1, 38))
            with pytest.raises(SendFailed) as temporary:
                modem.send("0912345678", "network out of order")
            assert isinstance(temporary.value, TemporaryError) and temporary.value.code == 38
            emu.set_faults(cms_error_on_send=(1, 21))
            with pytest.raises(MessageRejected) as permanent:
                modem.send("0912345678", "rejected")
            assert permanent.value.code == 21
            assert modem.send("0912345678", "fine again").parts == 1
            assert modem.status().send_errors == 2
        assert [m.text for m in emu.sent_messages()] == ["fine again"]


def test_commands_timing_out_make_the_watchdog_reopen() -> None:
    with emulator() as emu:
        events: queue.Queue[ModemEvent] = queue.Queue()
        with adapter(
            emu, Inbox(), events, sweep_interval=0.2, command_timeout=0.5, max_command_failures=2
        ) as modem:
            seen = wait_until(lambda: drain(events), what="ModemUp")
            emu.set_faults(slow_replies=2.0)
            wait_until(lambda: not modem.connected, what="modem declared lost")
            emu.set_faults(slow_replies=0.0)
            assert modem.wait_connected(15)
        kinds = [type(e) for e in seen + drain(events)]
        assert kinds[:3] == [ModemUp, ModemDown, ModemUp]


def test_sim_pin_from_config() -> None:
    with emulator(pin="1234") as emu, adapter(emu, Inbox(), pin="1234") as modem:
        assert modem.status().sim_state == "READY"


def test_wrong_pin_is_tried_once_only() -> None:
    with emulator(pin="1234") as emu:
        modem = Modem(emu.port, store_incoming=Inbox(), pin="9999", reconnect_initial_backoff=0.05,
                      reconnect_max_backoff=0.2)  # fmt: skip
        modem.start()
        try:
            wait_until(lambda: modem.status().sim_state == "PIN wrong", what="PIN refused")
            attempts = modem.status().connect_attempts
            wait_until(lambda: modem.status().connect_attempts >= attempts + 3, what="three more rounds")
            assert not modem.connected and "PIN" in modem.status().last_error
            with pytest.raises(HardwareUnavailable):
                modem.send("0912345678", "x")
        finally:
            modem.stop()
        assert emu._engine.pin_attempts == 1 and not emu._engine.pin_ok


def test_flow_control_setting_opens_the_port() -> None:
    with emulator() as emu, adapter(emu, Inbox(), rtscts=True) as modem:
        assert modem.send("0912345678", "with RTS/CTS").parts == 1


def test_library_debug_logging_stays_off_and_numbers_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            emu.inject_sms("0987654321", "secret body")
            wait_until(lambda: inbox.parts, what="message")
            modem.send("0987654321", "secret reply")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "0987654321" not in text and "secret" not in text
    assert not [r for r in caplog.records if r.name.startswith(("gsmmodem", "sms_gateway.modem.library"))]


def test_connect_cancels_a_send_a_dead_process_left_at_the_prompt() -> None:
    with emulator() as emu:
        fd = os.open(emu.port, os.O_RDWR | os.O_NOCTTY)
        try:  # a gateway that died between "> " and its PDU
            os.write(fd, b"AT+CMGS=20\r")
            wait_until(lambda: emu._engine.data_mode, what="modem at the prompt")
            os.write(fd, b"0011000B91")  # part of a PDU, no Ctrl-Z
        finally:
            os.close(fd)
        with adapter(emu, Inbox(), sweep_interval=600) as modem:
            assert emu.sent_parts() == []  # ESC cancelled it: nothing went out
            assert modem.send("0912345678", "after restart").parts == 1
        assert [m.text for m in emu.sent_messages()] == ["after restart"]


def test_reports_stored_while_down_are_committed_before_deletion() -> None:
    with emulator() as emu:
        with adapter(emu, Inbox(), sweep_interval=600) as modem:
            result = modem.send("+84912345678", "report me later", request_report=True)
        wait_until(lambda: emu.stored(), what="report stored on the SIM while nobody listens")
        committed: list[DeliveryReport] = []
        fail = [True]

        def store_reports(reports: list[DeliveryReport]) -> None:
            stored = emu.stored()
            assert all(any(p == r.raw_pdu_hex for _, p in stored.values()) for r in reports), "deleted first"
            if fail[0]:
                raise OSError("disk full (test)")
            committed.extend(reports)

        with adapter(emu, Inbox(), sweep_interval=0.5, store_reports=store_reports) as modem:
            wait_until(lambda: modem.status().store_failures, what="a failed commit")
            assert emu.stored(), "deleted although the commit failed"
            fail[0] = False
            wait_until(lambda: committed, what="report committed")
            wait_until(lambda: not emu.stored(), what="report deleted")
        (report,) = committed
        assert (report.message_ref, report.to, report.delivered) == (
            result.message_refs[0],
            "+84912345678",
            True,
        )
        assert report.dedup_key
