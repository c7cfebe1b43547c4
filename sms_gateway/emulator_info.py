"""The emulated modem's identity and line-setting commands (``AT+CGMI``, ``AT+CPIN``, ``AT+CSQ``, …).

A mixin of ``emulator_at.AtEngine``: the commands that only report or set the modem's identity, SIM and
character settings, apart from the message handling. Also the AT error types both use.
"""

from __future__ import annotations

from sms_gateway.emulator_types import ModemIdentity

SUPPORTED_COMMANDS = (  # noqa: SIM905 (a one-line-per-command list would take 30 lines)
    "+CGMI +CGMM +CGMR +CGSN +CIMI +CFUN +CMEE +CPIN +CLAC +COPS +CMGF +CSCA +CSMP +CPMS +CNMI +CLIP "
    "+CRC +CVHU +CSQ +CREG +CSCS +CMGS +CMGR +CMGL +CMGD +CNMA +CSMS +CMMS +CSDH +CNUM"
).split()


class CmsError(Exception):
    """Answer ``+CMS ERROR: <code>`` (plain ``ERROR`` without ``AT+CMEE``)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class CmeError(Exception):
    """Answer ``+CME ERROR: <code>`` (plain ``ERROR`` without ``AT+CMEE``)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class PlainError(Exception):
    """Answer ``ERROR``."""


def to_int(text: str) -> int:
    """An AT parameter as an integer (``+CMS ERROR: 302`` when it is not one)."""
    try:
        return int(text.strip().strip('"'))
    except ValueError:
        raise CmsError(302) from None


class InfoCommands:
    """Identity, SIM and character-set commands (mixed into ``AtEngine``)."""

    identity: ModemIdentity
    cmee: int
    pin_ok: bool
    pin_attempts: int
    cscs: str
    csmp_fo: int

    def _cmd_cgmi(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.manufacturer]

    def _cmd_cgmm(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.model]

    def _cmd_cgmr(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.revision]

    def _cmd_cgsn(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.imei]

    def _cmd_cimi(self, op: str, arg: str) -> list[str]:
        return [] if op == "=?" else [self.identity.imsi]

    def _cmd_cnum(self, op: str, arg: str) -> list[str]:
        return [f'+CNUM: "","{self.identity.own_number}",145']

    def _cmd_cfun(self, op: str, arg: str) -> list[str]:
        return ["+CFUN: 1"] if op == "?" else (["+CFUN: (0,1,4),(0,1)"] if op == "=?" else [])

    def _cmd_cmee(self, op: str, arg: str) -> list[str]:
        if op == "=":
            self.cmee = to_int(arg)
        return [f"+CMEE: {self.cmee}"] if op == "?" else (["+CMEE: (0-2)"] if op == "=?" else [])

    def _cmd_cpin(self, op: str, arg: str) -> list[str]:
        if op == "?":
            return ["+CPIN: READY" if self.pin_ok else "+CPIN: SIM PIN"]
        if op == "=":
            self.pin_attempts += 1
            if arg.strip('"') != self.identity.pin:
                raise CmeError(16)
            self.pin_ok = True
        return []

    def _cmd_clac(self, op: str, arg: str) -> list[str]:
        return list(SUPPORTED_COMMANDS)

    def _cmd_cops(self, op: str, arg: str) -> list[str]:
        if op == "?":
            return [f'+COPS: 0,0,"{self.identity.operator}",7']
        if op == "=?":
            return [
                f'+COPS: (2,"{self.identity.operator}","{self.identity.operator[:6]}","45204",7),,(0-4),(0-2)'
            ]
        return []

    def _cmd_csca(self, op: str, arg: str) -> list[str]:
        if op == "=":
            self.identity.smsc = arg.split(",")[0].strip('"')
        return [f'+CSCA: "{self.identity.smsc}",145'] if op == "?" else []

    def _cmd_csmp(self, op: str, arg: str) -> list[str]:
        if op == "=" and arg:
            self.csmp_fo = to_int(arg.split(",")[0])
        return [f"+CSMP: {self.csmp_fo},167,0,0"] if op == "?" else []

    def _cmd_csq(self, op: str, arg: str) -> list[str]:
        return [f"+CSQ: {self.identity.signal},99"] if op != "=?" else ["+CSQ: (0-31,99),(0-7,99)"]

    def _cmd_creg(self, op: str, arg: str) -> list[str]:
        return [f"+CREG: 0,{self.identity.registration}"] if op == "?" else []

    def _cmd_cscs(self, op: str, arg: str) -> list[str]:
        if op == "=":
            name = arg.strip('"').upper()
            if name not in ("GSM", "IRA", "UCS2"):
                raise CmeError(4)
            self.cscs = name
        if op == "?":
            return [f'+CSCS: "{self.cscs}"']
        return ['+CSCS: ("GSM","IRA","UCS2")'] if op == "=?" else []

    def _ok(self, op: str, arg: str) -> list[str]:
        return []

    _cmd_clip = _cmd_crc = _cmd_cvhu = _cmd_cnma = _cmd_cmms = _cmd_csdh = _ok

    def _cmd_csms(self, op: str, arg: str) -> list[str]:
        return ["+CSMS: 0,1,1,1"] if op in ("?", "=") else (["+CSMS: (0)"] if op == "=?" else [])
