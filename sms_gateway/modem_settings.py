"""Our settings on one modem, and the signs that a reset took them away (see ``modem_memory``).

``SettingsKeeper`` runs on the modem's owner thread with the owner's command function: it learns which
memories the modem offers, applies echo off, numeric errors, PDU mode, our memories and our notices,
reads back what the modem then says (``expected``), and later compares: a changed ``+CNMI`` or
``+CPMS``, like an echoed command or a boot line (noted by the owner through ``suspect``), means the
modem restarted behind our back and the settings must be applied again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gsmmodem.exceptions import CommandError

from dossier.errors import TemporaryError
from sms_gateway.modem_library import AT_CNMI, AT_CNMI_FALLBACK
from sms_gateway.modem_memory import Offer, Settings, parse_offer, parse_settings

log = logging.getLogger("sms_gateway.modem")


class SettingsKeeper:
    """Applies our settings to one modem and keeps the first sign of a reset (``reset_sign``)."""

    def __init__(self, port: str, cmd: Callable[..., list[str]]) -> None:
        self.port = port
        self._cmd = cmd  # cmd(command, check_echo=True) -> reply lines
        self.offer: Offer | None = None
        self.expected: Settings | None = None  # what the modem said right after we applied our settings
        self.reset_sign = ""  # why we think the modem reset ("" : no sign)
        self._warned_reports = False

    def forget(self) -> None:
        """A new connection: nothing known yet."""
        self.expected, self.reset_sign = None, ""

    def learn_memories(self) -> Offer | None:
        """Ask the modem which memories it offers (``AT+CPMS=?``); None when it does not say."""
        try:
            self.offer = parse_offer(self._cmd("AT+CPMS=?"))
        except (CommandError, TemporaryError):
            self.offer = None
        if self.offer is None:
            log.warning("modem %s does not list its memories (AT+CPMS=?): reading only its current one",
                        self.port)  # fmt: skip
        return self.offer

    def apply(self) -> None:
        """Echo off, numeric errors, PDU mode, our memories, our notices; remember what the modem says."""
        self.reset_sign = ""
        self._cmd("ATE0", check_echo=False)  # echoed when echo was on: not a sign of anything
        for command in ("AT+CMEE=1", "AT+CMGF=0"):
            try:
                self._cmd(command)
            except CommandError as err:
                log.warning("modem %s refused %s: %s", self.port, command, err)
        if self.offer is not None:
            self._cmd('AT+CPMS="{}","{}","{}"'.format(*self.offer.storage()))
        try:
            self._cmd(f"AT+CNMI={AT_CNMI}")
        except CommandError:
            self._cmd(f"AT+CNMI={AT_CNMI_FALLBACK}")
        self.expected = self.read()
        cnmi = self.expected.cnmi if self.expected else None
        if (cnmi is None or len(cnmi) < 4 or cnmi[3] != 2) and not self._warned_reports:
            self._warned_reports = True
            log.warning(
                "modem %s does not store delivery reports (AT+CNMI ds=2 refused): a reply in flight when "
                "the gateway dies may be sent twice",
                self.port,
            )

    def read(self) -> Settings | None:
        """The watched settings as the modem reports them now (None when it does not answer)."""
        try:
            cpms = self._cmd("AT+CPMS?") if self.offer is not None else []
            return parse_settings(self._cmd("AT+CNMI?"), cpms)
        except (CommandError, TemporaryError):
            return None

    def check(self) -> None:
        """Compare ``+CNMI`` and the memories with what we set: a modem that reset lost them."""
        if self.expected is None or self.reset_sign:
            return
        now = self.read()
        changed = now.differs_from(self.expected) if now is not None else ""
        if changed:
            self.suspect(f"settings changed: {changed}")

    def suspect(self, sign: str) -> None:
        """Note a sign of a reset (the first one is kept for the log)."""
        if not self.reset_sign:
            self.reset_sign = sign
