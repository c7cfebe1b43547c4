"""Citizens' data never reaches a log, at DEBUG either (issue 7 §5): the modem layer describes PDUs
(type, length, masked number) and the modem library's own loggers stay at WARNING, scrubbed."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pytest

from sms_gateway import pdu
from sms_gateway.redact import describe_pdu, scrub
from tests.queues import wait_until

from .modem_harness import Inbox, adapter, emulator

CITIZEN = "0987654321"
BODY = "Ho ten Tran Thi Bich, CCCD 001234567890"
REPLY = "Ho so cua ba Tran Thi Bich da co ket qua"
LIBRARY_LOGGERS = ("gsmmodem", "gsmmodem.modem.GsmModem", "gsmmodem.serial_comms.SerialComms",
                   "sms_gateway.modem.library")  # fmt: skip


def test_a_send_receive_round_at_debug_logs_no_number_no_body_no_pdu(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LIBRARY_LOGGERS:  # even someone turning the library's loggers up gets nothing out
        caplog.set_level(logging.DEBUG, logger=name)
    with emulator() as emu:
        inbox = Inbox()
        with adapter(emu, inbox, sweep_interval=600) as modem:
            pdus = emu.inject_sms(CITIZEN, BODY)
            wait_until(lambda: inbox.parts, what="message received")
            modem.send(CITIZEN, REPLY, request_report=True)
            emu.wait_sent(1, 15)
            sent_hex = emu.sent_parts()[0].pdu_hex
    records = caplog.records
    text = "\n".join(f"{r.name} {r.getMessage()}" for r in records)
    assert "SMS-DELIVER" in text and "SMS-SUBMIT" in text and "***321" in text  # described, masked
    for secret in (CITIZEN, CITIZEN[1:], "84987654321", "Tran Thi Bich", "001234567890", "CCCD"):
        assert secret not in text
    for raw in (*pdus, sent_hex):
        assert raw not in text and raw.lower() not in text
    assert not re.search(r"[0-9A-Fa-f]{20,}", text), "a PDU-like hex run was logged"
    assert not [r for r in records if r.name.startswith(LIBRARY_LOGGERS) and r.levelno < logging.WARNING]


def test_describe_and_scrub() -> None:
    (deliver,) = pdu.encode_deliver(
        "+84912345678", "secret text", timestamp=datetime(2024, 3, 15, tzinfo=UTC)
    )
    assert describe_pdu(deliver.hex) == f"SMS-DELIVER ({len(deliver.hex) // 2} octets, gsm7) from ***678"
    (submit,) = pdu.encode_submit("0912345678", "secret")
    assert describe_pdu(submit.hex).startswith("SMS-SUBMIT") and "***678" in describe_pdu(submit.hex)
    assert describe_pdu("ZZ").startswith("undecodable PDU (1 octets)")
    line = f'+CMGL: 1,"REC UNREAD","+84912345678",,"24/03/15" {deliver.hex}'
    scrubbed = scrub(line)
    assert "912345678" not in scrubbed and deliver.hex not in scrubbed and scrubbed.startswith("+CMGL: 1,")
