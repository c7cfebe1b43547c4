"""Fidelity: Gammu, an independent AT client, identifies, sends and reads SMS through the emulator; and a
contract suite runs the same send/receive scenarios through Gammu and through our adapter."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from sms_gateway.emulator import ModemEmulator
from sms_gateway.modem import Modem
from sms_gateway.reassembly import Part, assemble
from tests.queues import wait_until

from .modem_harness import Inbox, emulator

GAMMU = shutil.which("gammu")
needs_gammu = pytest.mark.skipif(
    GAMMU is None, reason="the gammu binary is not installed (Debian package gammu)"
)
LONG_GSM7 = "Ho so 000.00.15.H56-240315-0001 da co ket qua. " * 8  # 3 parts
VIETNAMESE = "Hồ sơ của bạn đã được tiếp nhận, hẹn trả ngày 20/03. " * 3  # 3 UCS-2 parts


class Client(Protocol):
    """What the contract needs from an AT client: send a text, read every message on the SIM."""

    def send(self, to: str, text: str, *, unicode: bool) -> None: ...

    def read_all(self, expected: int) -> list[tuple[str, str]]: ...


class GammuClient:
    """The ``gammu`` command line with ``connection = at`` on the emulator's pty."""

    def __init__(self, emu: ModemEmulator, tmp: Path) -> None:
        self.rc = tmp / "gammurc"
        self.rc.write_text(f"[gammu]\nconnection = at\ndevice = {emu.port}\n", encoding="utf-8")

    def run(self, *args: str) -> str:
        assert GAMMU is not None
        done = subprocess.run([GAMMU, "-c", str(self.rc), *args], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"gammu {args[0]} failed: {done.stdout[-400:]} {done.stderr[-400:]}"
        return done.stdout

    def send(self, to: str, text: str, *, unicode: bool) -> None:
        extra = ["-unicode"] if unicode else []
        self.run("sendsms", "TEXT", to, *extra, "-len", str(len(text)), "-text", text)

    def read_all(self, expected: int) -> list[tuple[str, str]]:
        out = self.run("geteachsms")
        found = []
        for block in out.split("\n\nLocation ")[0:]:
            sender = re.search(r'Remote number\s*: "([^"]*)"', block)
            body = block.split("\n\n", 1)
            if sender and len(body) == 2:
                found.append((sender.group(1), body[1].split("\n\n")[0].rstrip("\n")))
        return found


class AdapterClient:
    """Our ``Modem`` (python-gsmmodem-new underneath) plus our reassembly."""

    def __init__(self, emu: ModemEmulator) -> None:
        self.inbox = Inbox()
        self.modem = Modem(emu.port, store_incoming=self.inbox, sweep_interval=600)
        self.modem.start()
        assert self.modem.wait_connected(15)

    def send(self, to: str, text: str, *, unicode: bool) -> None:
        self.modem.send(to, text, unicode=unicode)

    def read_all(self, expected: int) -> list[tuple[str, str]]:
        def whole() -> list[tuple[str, str]]:
            parts = [Part.from_received(p, key=i, arrived=0.0) for i, p in enumerate(self.inbox.parts)]
            done, _ = assemble(parts, now=0.0, timeout=60)
            return [(d.sender, d.text) for d in done] if len(done) >= expected else []

        return wait_until(whole, what=f"{expected} whole messages")  # type: ignore[no-any-return]

    def close(self) -> None:
        self.modem.stop()


@pytest.fixture(params=["adapter", pytest.param("gammu", marks=needs_gammu)])
def client_and_emulator(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Client, ModemEmulator]]:
    with emulator() as emu:
        if request.param == "gammu":
            yield GammuClient(emu, tmp_path), emu
        else:
            client = AdapterClient(emu)
            try:
                yield client, emu
            finally:
                client.close()


def test_contract_send_gsm7_ucs2_and_multipart(client_and_emulator: tuple[Client, ModemEmulator]) -> None:
    client, emu = client_and_emulator
    client.send("0912345678", "HS 000.00.15.H56-240315-0001: da tiep nhan", unicode=False)
    client.send("+84912345678", VIETNAMESE, unicode=True)
    client.send("0912345678", LONG_GSM7, unicode=False)
    sent = emu.wait_sent(3, 60)
    assert [(m.to, m.text, m.encoding, m.parts) for m in sent] == [
        ("0912345678", "HS 000.00.15.H56-240315-0001: da tiep nhan", "gsm7", 1),
        ("+84912345678", VIETNAMESE, "ucs2", 3),
        ("0912345678", LONG_GSM7, "gsm7", 3),
    ]


def test_contract_read_single_multipart_16bit_and_ucs2(
    client_and_emulator: tuple[Client, ModemEmulator],
) -> None:
    client, emu = client_and_emulator
    emu.inject_sms("0912345678", "HS 000.00.15.H56-240315-0001")
    emu.inject_sms("0987654321", LONG_GSM7, concat_ref16=True)
    emu.inject_sms("+84912345678", VIETNAMESE)
    got = client.read_all(3)
    assert sorted(got) == sorted(
        [
            ("0912345678", "HS 000.00.15.H56-240315-0001"),
            ("0987654321", LONG_GSM7),
            ("+84912345678", VIETNAMESE),
        ]
    )


@needs_gammu
def test_gammu_identifies_the_emulator(tmp_path: Path) -> None:
    with emulator() as emu:
        out = GammuClient(emu, tmp_path).run("identify")
    assert re.search(r"Manufacturer\s*:\s*motcua", out) and re.search(r"IMEI\s*:\s*356938035643809", out)
    assert re.search(r"SIM IMSI\s*:\s*452040123456789", out)
