"""What the modem layer may log about citizens' messages: a PDU's type, length and a masked number.

A PDU carries the sender's or recipient's number and the message body, and the serial traffic carries
PDUs, text-mode bodies and numbers. Nothing of that reaches a log at any level: PDUs are described
(``describe_pdu``), other lines are scrubbed (``scrub``), and the library's loggers are held at WARNING
with a filter that scrubs whatever they still emit (``quiet_library_logs``).
"""

from __future__ import annotations

import logging
import re

from sms_gateway import pdu
from sms_gateway.modem_types import mask_number

# a logger's filters see only its own records, so each logger the library uses is named
LIBRARY_LOGGERS = (
    "gsmmodem",
    "gsmmodem.modem.GsmModem",
    "gsmmodem.serial_comms.SerialComms",
    "sms_gateway.modem.library",
)
_HEX_RUN = re.compile(r"\b[0-9A-Fa-f]{12,}\b")
_NUMBER = re.compile(r"\+?\d[\d ]{5,}\d")
_QUOTED = re.compile(r'"[^"]*"')


def describe_pdu(pdu_hex: str) -> str:
    """A PDU fit for logs: its type, its length and the masked number; never the user data."""
    text = pdu_hex.strip()
    octets = len(text) // 2
    try:
        msg = pdu.decode(text)
    except pdu.PduError as err:
        return f"undecodable PDU ({octets} octets): {err}"
    if isinstance(msg, pdu.Deliver):
        return f"SMS-DELIVER ({octets} octets, {msg.encoding}) from {mask_number(msg.sender)}"
    if isinstance(msg, pdu.Submit):
        return f"SMS-SUBMIT ({octets} octets, {msg.encoding}) to {mask_number(msg.to)}"
    return f"SMS-STATUS-REPORT ({octets} octets, status {msg.status:#x}) for {mask_number(msg.recipient)}"


def scrub(line: str) -> str:
    """A line of modem traffic fit for logs: hex runs, quoted fields and phone numbers masked."""
    line = _HEX_RUN.sub(lambda m: f"<{len(m.group()) // 2} octets>", line)
    line = _QUOTED.sub(lambda m: m.group() if len(m.group()) <= 4 else '"…"', line)
    return _NUMBER.sub(lambda m: mask_number(m.group().replace(" ", "")), line)


class ScrubFilter(logging.Filter):
    """Lets only WARNING and above through, with the message scrubbed (see ``scrub``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop chatter below WARNING; scrub the rest in place."""
        if record.levelno < logging.WARNING:
            return False
        record.msg, record.args = scrub(record.getMessage()), None
        return True


_FILTER = ScrubFilter()


def quiet_library_logs() -> None:
    """Hold the modem library's loggers at WARNING and scrub what they emit (idempotent)."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
