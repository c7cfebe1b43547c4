"""SMS PDUs (3GPP TS 23.040): decode SMS-DELIVER, SMS-SUBMIT and SMS-STATUS-REPORT; encode all three.

Hex strings carry the SMSC address first (as ``AT+CMGR``/``AT+CMGL``/``AT+CMGS`` do in PDU mode);
``tpdu_length`` counts the octets after it. Decoding never guesses silently: anything it cannot read
raises ``PduError`` with the reason, so the caller can keep the raw PDU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from dossier import gsm7
from dossier.errors import MotcuaError

GSM7 = "gsm7"
UCS2 = "ucs2"
DATA8 = "8bit"

IEI_CONCAT8 = 0x00
IEI_CONCAT16 = 0x08

STATUS_DELIVERED = 0x00


class PduError(MotcuaError, ValueError):
    """A PDU that cannot be decoded (malformed, truncated, unsupported coding)."""


@dataclass(frozen=True)
class Concat:
    """Concatenation info from a UDH: reference, total parts, this part's 1-based number."""

    ref: int
    total: int
    seq: int
    ref16: bool = False


@dataclass(frozen=True)
class Deliver:
    """A decoded SMS-DELIVER (network → phone)."""

    smsc: str
    sender: str
    timestamp: datetime
    text: str
    encoding: str
    payload: bytes  # user data without the UDH: packed septets, UCS-2 octets or 8-bit data
    concat: Concat | None
    pid: int = 0
    dcs: int = 0
    udh: bytes = b""
    status_report_indication: bool = False


@dataclass(frozen=True)
class Submit:
    """A decoded SMS-SUBMIT (phone → network)."""

    smsc: str
    to: str
    text: str
    encoding: str
    payload: bytes
    concat: Concat | None
    message_ref: int = 0
    request_report: bool = False
    pid: int = 0
    dcs: int = 0
    udh: bytes = b""


@dataclass(frozen=True)
class StatusReport:
    """A decoded SMS-STATUS-REPORT: what became of an SMS we submitted (``status`` 0 = delivered)."""

    smsc: str
    message_ref: int
    recipient: str
    sent_at: datetime
    discharged_at: datetime
    status: int

    @property
    def delivered(self) -> bool:
        """True when the status says the message reached the phone."""
        return self.status == STATUS_DELIVERED

    @property
    def final(self) -> bool:
        """True when no further report will follow (delivered or permanently failed)."""
        return self.status < 0x20 or self.status >= 0x40


@dataclass(frozen=True)
class EncodedPdu:
    """One PDU ready for ``AT+CMGS=<tpdu_length>`` (or for SIM storage in the emulator)."""

    hex: str
    tpdu_length: int
    parts_meta: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- septet packing


def pack_septets(septets: list[int], fill_bits: int = 0) -> bytes:
    """Pack 7-bit values into octets, least significant bit first, after ``fill_bits`` zero bits."""
    out = bytearray()
    acc, nbits = 0, fill_bits
    for s in septets:
        acc |= (s & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack_septets(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """Unpack ``count`` 7-bit values from octets, skipping ``fill_bits`` first."""
    needed = math.ceil((count * 7 + fill_bits) / 8)
    if len(data) < needed:
        raise PduError(f"user data truncated: {count} septets need {needed} octets, have {len(data)}")
    value = int.from_bytes(data[:needed], "little")
    value >>= fill_bits
    return [(value >> (7 * i)) & 0x7F for i in range(count)]


# ---------------------------------------------------------------- addresses and timestamps


def _swap_bcd(octets: bytes) -> str:
    digits = []
    table = "0123456789*#abc"
    for b in octets:
        for nibble in (b & 0x0F, b >> 4):
            if nibble == 0x0F:
                continue
            digits.append(table[nibble])
    return "".join(digits)


def _bcd_digits(digits: str) -> bytes:
    table = {c: i for i, c in enumerate("0123456789*#abc")}
    if len(digits) % 2:
        digits += "F"
    out = bytearray()
    for i in range(0, len(digits), 2):
        lo = table[digits[i]]
        hi = 0x0F if digits[i + 1] == "F" else table[digits[i + 1]]
        out.append((hi << 4) | lo)
    return bytes(out)


def encode_address(number: str) -> bytes:
    """Address field (length in digits, type, BCD digits); alphanumeric senders are packed GSM-7."""
    if number.startswith("+") and number[1:].isdigit():
        digits = number[1:]
        return bytes([len(digits), 0x91]) + _bcd_digits(digits)
    if number and all(c in "0123456789*#" for c in number):
        return bytes([len(number), 0x81]) + _bcd_digits(number)
    septets = gsm7.encode_septets(number)
    packed = pack_septets(septets)
    return bytes([math.ceil(len(septets) * 7 / 4), 0xD0]) + packed


def _decode_address(data: bytes, pos: int) -> tuple[str, int]:
    length, toa = data[pos], data[pos + 1]
    octets = (length + 1) // 2
    body = data[pos + 2 : pos + 2 + octets]
    if len(body) < octets:
        raise PduError("address truncated")
    if (toa >> 4) & 0x07 == 0x05:  # alphanumeric
        count = length * 4 // 7
        return gsm7.decode_septets(unpack_septets(body, count)), pos + 2 + octets
    digits = _swap_bcd(body)[:length]
    if (toa >> 4) & 0x07 == 0x01 and digits:
        digits = "+" + digits
    return digits, pos + 2 + octets


def encode_smsc(number: str) -> bytes:
    """SMSC field as it leads a PDU-mode PDU: ``00`` for the SIM's default SMSC."""
    if not number:
        return b"\x00"
    addr = encode_address(number)
    return bytes([len(addr) - 1]) + addr[1:]


def _decode_smsc(data: bytes) -> tuple[str, int]:
    length = data[0]
    if length == 0:
        return "", 1
    toa, body = data[1], data[2 : 1 + length]
    if len(body) < length - 1:
        raise PduError("SMSC address truncated")
    digits = _swap_bcd(body)
    return ("+" + digits if (toa >> 4) & 0x07 == 0x01 else digits), 1 + length


def encode_timestamp(when: datetime) -> bytes:
    """Seven-octet service-centre timestamp in the time zone of ``when`` (UTC if naive)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset() or timedelta(0)
    quarters = int(abs(offset.total_seconds()) // 900)
    fields = [when.year % 100, when.month, when.day, when.hour, when.minute, when.second]
    out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
    tz = ((quarters % 10) << 4) | (quarters // 10 & 0x07)
    if offset < timedelta(0):
        tz |= 0x08
    out.append(tz)
    return bytes(out)


def decode_timestamp(data: bytes) -> datetime:
    """Seven-octet service-centre timestamp → aware datetime."""
    if len(data) < 7:
        raise PduError("timestamp truncated")
    values = [(b & 0x0F) * 10 + (b >> 4) for b in data[:6]]
    tz = data[6]
    quarters = (tz & 0x07) * 10 + (tz >> 4)
    offset = timedelta(minutes=15 * quarters) * (-1 if tz & 0x08 else 1)
    try:
        year, month, day, hour, minute, second = values
        return datetime(
            (2000 if year < 70 else 1900) + year, month, day, hour, minute, second, tzinfo=timezone(offset)
        )
    except ValueError as err:
        raise PduError(f"invalid timestamp: {err}") from None


# ---------------------------------------------------------------- data coding


def alphabet(dcs: int) -> str:
    """The alphabet a data coding scheme selects (GSM-7, 8-bit or UCS-2); compressed → ``PduError``."""
    group = dcs >> 4
    if group < 0x8:
        if dcs & 0x20:
            raise PduError("compressed user data is not supported")
        return {0: GSM7, 1: DATA8, 2: UCS2, 3: GSM7}[(dcs >> 2) & 0x03]
    if group == 0xF:
        return DATA8 if dcs & 0x04 else GSM7
    if group == 0xE:
        return UCS2
    return GSM7


def _dcs_for(encoding: str) -> int:
    return {GSM7: 0x00, DATA8: 0x04, UCS2: 0x08}[encoding]


def _parse_udh(udh: bytes) -> Concat | None:
    pos, concat = 0, None
    while pos + 2 <= len(udh):
        iei, iel = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + iel]
        if len(value) < iel:
            raise PduError("user data header truncated")
        if iei == IEI_CONCAT8 and iel == 3:
            concat = Concat(ref=value[0], total=value[1], seq=value[2], ref16=False)
        elif iei == IEI_CONCAT16 and iel == 4:
            concat = Concat(ref=(value[0] << 8) | value[1], total=value[2], seq=value[3], ref16=True)
        pos += 2 + iel
    if concat is not None and (concat.total == 0 or concat.seq == 0 or concat.seq > concat.total):
        return None  # 23.040: ignore an inconsistent concatenation element
    return concat


def _concat_udh(ref: int, total: int, seq: int, ref16: bool) -> bytes:
    if ref16:
        return bytes([IEI_CONCAT16, 4, (ref >> 8) & 0xFF, ref & 0xFF, total, seq])
    return bytes([IEI_CONCAT8, 3, ref & 0xFF, total, seq])


def _decode_user_data(data: bytes, pos: int, dcs: int, udhi: bool) -> tuple[str, str, bytes, bytes]:
    """Returns (text, encoding, payload, udh) from the UDL octet at ``pos``."""
    if pos >= len(data):
        raise PduError("user data length missing")
    udl = data[pos]
    ud = data[pos + 1 :]
    encoding = alphabet(dcs)
    udh = b""
    if encoding == GSM7:
        total_octets = math.ceil(udl * 7 / 8)
        if len(ud) < total_octets:
            raise PduError(f"user data truncated: UDL {udl} septets, {len(ud)} octets present")
        skip_septets = 0
        fill = 0
        if udhi:
            udhl = ud[0] if ud else 0
            udh = ud[1 : 1 + udhl]
            if len(udh) < udhl:
                raise PduError("user data header truncated")
            skip_septets = math.ceil((udhl + 1) * 8 / 7)
            fill = skip_septets * 7 - (udhl + 1) * 8
            if skip_septets > udl:
                raise PduError("user data header longer than the user data")
            body = ud[udhl + 1 : total_octets]
        else:
            body = ud[:total_octets]
        count = udl - skip_septets
        septets = unpack_septets(body, count, fill)
        return gsm7.decode_septets(septets), GSM7, body, udh
    if len(ud) < udl:
        raise PduError(f"user data truncated: UDL {udl} octets, {len(ud)} present")
    ud = ud[:udl]
    if udhi:
        udhl = ud[0] if ud else 0
        udh = ud[1 : 1 + udhl]
        if len(udh) < udhl:
            raise PduError("user data header truncated")
        ud = ud[udhl + 1 :]
    if encoding == UCS2:
        if len(ud) % 2:
            raise PduError("UCS-2 user data has an odd number of octets")
        return decode_ucs2(ud), UCS2, ud, udh
    return ud.decode("latin-1"), DATA8, ud, udh


def decode_ucs2(data: bytes) -> str:
    """UCS-2/UTF-16BE octets → text; a surrogate half left alone (split by a sender) becomes U+FFFD."""
    return data.decode("utf-16-be", errors="replace")


def _encode_user_data(text: str, encoding: str, udh: bytes, data: bytes | None = None) -> bytes:
    header = bytes([len(udh)]) + udh if udh else b""
    if encoding == GSM7:
        septets = gsm7.encode_septets(text)
        if header:
            skip = math.ceil(len(header) * 8 / 7)
            fill = skip * 7 - len(header) * 8
            return bytes([skip + len(septets)]) + header + pack_septets(septets, fill)
        return bytes([len(septets)]) + pack_septets(septets)
    body = (
        text.encode("utf-16-be")
        if encoding == UCS2
        else (data if data is not None else text.encode("latin-1"))
    )
    return bytes([len(header) + len(body)]) + header + body


# ---------------------------------------------------------------- decoding


def _hex_bytes(pdu_hex: str) -> bytes:
    try:
        return bytes.fromhex(pdu_hex.strip())
    except ValueError:
        raise PduError("PDU is not hexadecimal") from None


def decode(pdu_hex: str, *, has_smsc: bool = True) -> Deliver | Submit | StatusReport:
    """Decode one PDU by its message type indicator; raises ``PduError`` when it cannot."""
    data = _hex_bytes(pdu_hex)
    if not data:
        raise PduError("empty PDU")
    try:
        smsc, pos = _decode_smsc(data) if has_smsc else ("", 0)
        first = data[pos]
        mti = first & 0x03
        if mti == 0x00:
            return _decode_deliver(data, pos, smsc)
        if mti == 0x01:
            return _decode_submit(data, pos, smsc)
        if mti == 0x02:
            return _decode_status_report(data, pos, smsc)
        raise PduError("reserved message type")
    except IndexError:
        raise PduError("PDU truncated") from None


def _decode_deliver(data: bytes, pos: int, smsc: str) -> Deliver:
    first = data[pos]
    sender, pos = _decode_address(data, pos + 1)
    pid, dcs = data[pos], data[pos + 1]
    timestamp = decode_timestamp(data[pos + 2 : pos + 9])
    text, encoding, payload, udh = _decode_user_data(data, pos + 9, dcs, bool(first & 0x40))
    return Deliver(
        smsc=smsc,
        sender=sender,
        timestamp=timestamp,
        text=text,
        encoding=encoding,
        payload=payload,
        concat=_parse_udh(udh),
        pid=pid,
        dcs=dcs,
        udh=udh,
        status_report_indication=bool(first & 0x20),
    )


def _decode_submit(data: bytes, pos: int, smsc: str) -> Submit:
    first = data[pos]
    ref = data[pos + 1]
    to, pos = _decode_address(data, pos + 2)
    pid, dcs = data[pos], data[pos + 1]
    vpf = (first >> 3) & 0x03
    pos += 2 + {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    text, encoding, payload, udh = _decode_user_data(data, pos, dcs, bool(first & 0x40))
    return Submit(
        smsc=smsc,
        to=to,
        text=text,
        encoding=encoding,
        payload=payload,
        concat=_parse_udh(udh),
        message_ref=ref,
        request_report=bool(first & 0x20),
        pid=pid,
        dcs=dcs,
        udh=udh,
    )


def _decode_status_report(data: bytes, pos: int, smsc: str) -> StatusReport:
    ref = data[pos + 1]
    recipient, pos = _decode_address(data, pos + 2)
    sent_at = decode_timestamp(data[pos : pos + 7])
    discharged_at = decode_timestamp(data[pos + 7 : pos + 14])
    status = data[pos + 14]
    return StatusReport(smsc, ref, recipient, sent_at, discharged_at, status)


# ---------------------------------------------------------------- encoding


def _parts(text: str, unicode: bool | None, data: bytes | None) -> tuple[list[str], str]:
    if data is not None:
        return [data.decode("latin-1")], DATA8
    parts, ucs2 = gsm7.split_text(text, unicode=unicode)
    return parts, (UCS2 if ucs2 else GSM7)


def encode_submit(
    to: str,
    text: str,
    *,
    unicode: bool | None = None,
    message_ref: int = 0,
    concat_ref: int = 0,
    ref16: bool = False,
    request_report: bool = False,
    smsc: str = "",
    validity: int | None = 0xA7,
) -> list[EncodedPdu]:
    """SMS-SUBMIT PDU(s) for ``text`` (split into concatenated parts when it does not fit one)."""
    parts, encoding = _parts(text, unicode, None)
    out = []
    for seq, part in enumerate(parts, start=1):
        udh = _concat_udh(concat_ref, len(parts), seq, ref16) if len(parts) > 1 else b""
        first = (
            0x01
            | (0x20 if request_report else 0)
            | (0x40 if udh else 0)
            | (0x10 if validity is not None else 0)
        )
        tpdu = bytes([first, (message_ref + seq - 1) & 0xFF]) + encode_address(to)
        tpdu += bytes([0x00, _dcs_for(encoding)])
        if validity is not None:
            tpdu += bytes([validity])
        tpdu += _encode_user_data(part, encoding, udh)
        out.append(EncodedPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu)))
    return out


def encode_deliver(
    sender: str,
    text: str,
    *,
    timestamp: datetime,
    unicode: bool | None = None,
    concat_ref: int = 0,
    ref16: bool = False,
    smsc: str = "+84980200030",
    data: bytes | None = None,
    status_report_indication: bool = False,
) -> list[EncodedPdu]:
    """SMS-DELIVER PDU(s) as a network would store them on a SIM (8-bit when ``data`` is given)."""
    parts, encoding = _parts(text, unicode, data)
    out = []
    for seq, part in enumerate(parts, start=1):
        udh = _concat_udh(concat_ref, len(parts), seq, ref16) if len(parts) > 1 else b""
        first = 0x04 | (0x40 if udh else 0) | (0x20 if status_report_indication else 0)
        tpdu = bytes([first]) + encode_address(sender) + bytes([0x00, _dcs_for(encoding)])
        tpdu += encode_timestamp(timestamp)
        payload = data if encoding == DATA8 else None
        tpdu += _encode_user_data(part, encoding, udh, payload)
        out.append(EncodedPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu)))
    return out


def encode_status_report(
    message_ref: int,
    recipient: str,
    *,
    sent_at: datetime,
    discharged_at: datetime,
    status: int = STATUS_DELIVERED,
    smsc: str = "+84980200030",
) -> EncodedPdu:
    """An SMS-STATUS-REPORT PDU for a message we submitted."""
    tpdu = bytes([0x06, message_ref & 0xFF]) + encode_address(recipient)
    tpdu += encode_timestamp(sent_at) + encode_timestamp(discharged_at) + bytes([status & 0xFF])
    return EncodedPdu((encode_smsc(smsc) + tpdu).hex().upper(), len(tpdu))


def tpdu_length(pdu_hex: str) -> int:
    """Octets after the SMSC field (the ``<length>`` that ``+CMGR``/``+CMGL``/``AT+CMGS`` carry)."""
    data = _hex_bytes(pdu_hex)
    return max(0, len(data) - 1 - (data[0] if data else 0))
