"""Crash test: kill -9 the gateway process during a burst of 500 inbound SMS, restart it; every inbound
message is answered exactly once (counted in what the emulated modem actually sent).

A reply in flight at the kill waits ``interrupted_grace`` for its delivery report before it is sent
again, so a duplicate can only show after the grace: the test keeps watching until the grace has passed
since the restart and nothing is left to send (a short grace keeps that quick; no fixed sleeps)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dossier.cache import Cache
from sms_gateway.emulator import ModemEmulator
from sms_gateway.store import SmsStore
from tests.dossier.factory import make_dossier
from tests.queues import wait_until as wait_for

BURST = 500
GRACE = 5.0  # interrupted_grace of the gateway under test
ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, port: str) -> Path:
    cfg = tmp_path / "motcua.toml"
    cfg.write_text(
        f"""
[device]
data_dir = "{tmp_path}"
[central]
url = "http://127.0.0.1:9"
connect_timeout = 0.5
read_timeout = 0.5
retries = 0
[cache]
fresh_seconds = 86400
[logging]
level = "WARNING"
[sms]
per_number_hour = 1000
per_number_day = 1000
interrupted_grace = {GRACE}
[[sms.modems]]
port = "{port}"
sweep_interval = 2.0
command_timeout = 5.0
""",
        encoding="utf-8",
    )
    return cfg


def start_gateway(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--config", str(cfg), "sms", "run"],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def sender(i: int) -> str:
    return f"+8491{i:07d}"


class Killer:
    """SIGKILLs the gateway from inside the emulator at a chosen moment of a send, once enough replies
    went out: ``at_prompt`` (the modem waits for the PDU after "> "), ``after_accept`` (the modem took the
    SMS; the gateway has not read its reference)."""

    def __init__(self, emu: ModemEmulator, moment: str, after: int) -> None:
        self.emu, self.moment, self.after = emu, moment, after
        self.pid = 0
        self.done = threading.Event()
        emu.add_listener(lambda _message: self._maybe("after_accept"))
        emu.add_prompt_listener(lambda: self._maybe("at_prompt"))

    def _maybe(self, moment: str) -> None:
        due = moment == self.moment and self.pid and not self.done.is_set()
        if due and len(self.emu.sent_messages()) >= self.after:
            os.kill(self.pid, signal.SIGKILL)
            self.done.set()


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["while_busy", "at_prompt", "after_accept"])
def test_kill_9_mid_burst_every_message_answered_exactly_once(tmp_path: Path, moment: str) -> None:
    cache = Cache(tmp_path / "cache.db")
    codes = {}
    for i in range(BURST):
        d = make_dossier(i + 1)
        cache.put(d)
        codes[sender(i)] = d.code
    cache.close()
    emu = ModemEmulator(storage_slots=30)
    port = emu.start()
    killer = Killer(emu, moment, 1 + BURST // 4)
    cfg = write_config(tmp_path, port)
    log = tmp_path / "gateway.log"
    proc = start_gateway(cfg, log)
    try:
        emu.inject_sms("+84900000000", "HD")  # warm-up: the gateway is up when this is answered
        emu.wait_sent(1, 60)
        killer.pid = proc.pid
        for i in range(BURST):
            emu.inject_sms(sender(i), f"HS {codes[sender(i)]}")
        if moment == "while_busy":
            wait_for(
                lambda: len(emu.sent_messages()) >= 1 + BURST // 4, 120, "a quarter of the burst answered"
            )
            os.kill(proc.pid, signal.SIGKILL)
        else:
            wait_for(killer.done.is_set, 120, f"the kill {moment}")
        proc.wait(10)
        before = len(emu.sent_messages())
        assert before < 1 + BURST, "the burst was over before the kill"
        proc = start_gateway(cfg, log)
        restarted = time.monotonic()
        answered = lambda: {m.to for m in emu.sent_messages()} >= set(codes)  # noqa: E731
        wait_for(answered, 180, "every inbound answered after the restart")

        # a late duplicate goes out once the grace is over: watch past it, until nothing is pending
        def settled() -> bool:
            store = SmsStore(tmp_path / "sms.db")
            try:
                pending = store._query(
                    "SELECT 1 FROM outbox WHERE state IN ('queued', 'sending', 'unconfirmed')"
                    " UNION ALL SELECT 1 FROM messages WHERE state = 'new'"
                )
            finally:
                store.close()
            return not pending and not emu.stored() and emu.held_count() == 0

        wait_for(
            lambda: time.monotonic() > restarted + GRACE + 1.0 and settled(), 60, "past the grace, settled"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        emu.stop()
    replies = collections.Counter(m.to for m in emu.sent_messages() if m.to != "+84900000000")
    wrong = {to: n for to, n in replies.items() if n != 1}
    store = SmsStore(tmp_path / "sms.db")
    outbox = dict(store._query("SELECT state, COUNT(*) FROM outbox GROUP BY state"))
    interrupted = store._query("SELECT id, state, reason FROM outbox WHERE reason LIKE '%restart%'")
    store.close()
    print(f"{moment}: killed after {before - 1} replies; outbox {outbox}; interrupted rows {interrupted}")
    assert set(replies) == set(codes), "some inbound messages were never answered"
    assert not wrong, f"answered more than once: {wrong}; interrupted rows {interrupted}"
    for m in emu.sent_messages():
        if m.to in codes:
            assert codes[m.to] in m.text
    assert set(outbox) <= {"sent", "delivered"}, outbox
    if moment == "at_prompt":  # ESC cancelled the send: nothing went out, so it was sent after the grace
        assert [r[2] for r in interrupted] == [
            "interrupted by a restart; no delivery report came; sent again"
        ]
    if moment == "after_accept":  # the stored delivery report proved the send: not sent again
        assert [r[1:] for r in interrupted] == [("delivered", "sent before a restart (delivery report seen)")]
