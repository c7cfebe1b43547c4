"""A GSM modem emulator on a pseudo-terminal, reachable at a stable symlink path (like /dev/serial/by-id).

One thread owns the pty and the AT engine (``emulator_at.AtEngine``); the public methods only take the
lock, change the engine's state and wake the thread. Used by tests, benchmarks and ``motcua sms emulate``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import tempfile
import threading
import time
import tty
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sms_gateway import pdu
from sms_gateway.emulator_at import AtEngine
from sms_gateway.emulator_types import Faults, ModemIdentity, SentMessage, SentPart

log = logging.getLogger(__name__)

__all__ = ["Faults", "ModemEmulator", "ModemIdentity", "SentMessage", "SentPart"]


class ModemEmulator:
    """An AT-command GSM modem on a pty; ``start()`` returns the path clients open."""

    def __init__(
        self,
        *,
        link_path: str | os.PathLike[str] | None = None,
        storage_slots: int = 30,
        seconds_per_part: float = 0.0,
        pin: str = "",
        identity: ModemIdentity | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        ident = identity or ModemIdentity()
        ident.storage_slots = storage_slots
        ident.pin = pin or ident.pin
        self._engine = AtEngine(
            identity=ident,
            seconds_per_part=seconds_per_part,
            on_sent=self._record_sent,
            on_prompt=self._prompted,
        )
        self._engine.powered = True
        self._clock = clock
        self._own_dir: str | None = None
        if link_path is None:
            self._own_dir = tempfile.mkdtemp(prefix="motcua-modem-")
            link_path = Path(self._own_dir) / "ttyEMU0"
        self.port = str(link_path)
        self._lock = threading.RLock()
        self._sent_cond = threading.Condition(self._lock)
        self._messages: list[SentMessage] = []
        self._partial: dict[tuple[str, int, int], dict[int, SentPart]] = {}
        self._listeners: list[Callable[[SentMessage], None]] = []
        self._prompt_listeners: list[Callable[[], None]] = []
        self._master: int | None = None
        self._slave: int | None = None
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._running = False
        self._concat_ref = 0
        self.pty_name = ""

    # ------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Create the pty and its symlink, start the modem thread; returns the port path."""
        with self._lock:
            self._open_pty()
            self._running = True
        self._thread = threading.Thread(target=self._loop, name="modem-emulator", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop the thread, close the pty, remove the symlink."""
        with self._lock:
            self._running = False
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._own_dir:
            with contextlib.suppress(OSError):
                os.rmdir(self._own_dir)

    def __enter__(self) -> ModemEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Pull the USB plug: the pty closes (clients get errors) and the symlink disappears."""
        with self._lock:
            self._close_pty()
            self._engine.powered = False
        log.info("emulated modem unplugged")

    def replug(self) -> None:
        """Plug it back: a fresh pty at the same symlink path; the modem restarts, the SIM keeps its store."""
        with self._lock:
            self._engine.power_on()
            self._engine.powered = True
            self._open_pty()
            self._engine.flush_held()
        self._wake()
        log.info("emulated modem plugged in again at %s", self.pty_name)

    # ------------------------------------------------------------ configuration and faults

    @property
    def faults(self) -> Faults:
        """The live fault settings (change them through ``set_faults``)."""
        return self._engine.faults

    def set_faults(self, **changes: object) -> None:
        """Set fault flags by name, e.g. ``set_faults(double_cmti=True, cms_error_on_send=(2, 38))``."""
        known = {f.name for f in dataclasses.fields(Faults)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in changes.items():
                setattr(self._engine.faults, name, value)
            if not self._engine.faults.storage_full and self._engine.powered:
                self._engine.flush_held()
        self._wake()

    def set_send_delay(self, seconds_per_part: float) -> None:
        """How long the emulated network takes to accept each sent part."""
        with self._lock:
            self._engine.seconds_per_part = seconds_per_part

    def set_signal(self, csq: int, registration: int = 1) -> None:
        """Change the reported signal (``+CSQ``) and registration state (``+CREG``)."""
        with self._lock:
            self._engine.identity.signal = csq
            self._engine.identity.registration = registration

    # ------------------------------------------------------------ network side

    def inject_sms(
        self,
        sender: str,
        text: str,
        *,
        ucs2: bool | None = None,
        concat_ref16: bool = False,
        when: datetime | None = None,
        data: bytes | None = None,
    ) -> list[str]:
        """A phone texts the modem: stores SMS-DELIVER part(s) and announces them; returns the PDUs."""
        ref16 = concat_ref16 or self._engine.faults.concat_ref16_first_char
        with self._lock:
            self._concat_ref = (self._concat_ref + 1) % (65536 if ref16 else 256)
            pdus = pdu.encode_deliver(
                sender,
                text,
                timestamp=when or datetime.now().astimezone(),
                unicode=ucs2,
                concat_ref=self._concat_ref,
                ref16=ref16,
                smsc=self._engine.identity.smsc,
                data=data,
            )
            for p in pdus:
                self._deliver(p.hex)
        self._wake()
        return [p.hex for p in pdus]

    def inject_pdu(self, pdu_hex: str) -> None:
        """The network delivers one raw PDU (SMSC field first), decodable or not."""
        with self._lock:
            self._deliver(pdu_hex)
        self._wake()

    def _deliver(self, pdu_hex: str) -> None:
        if self._engine.powered:
            self._engine.network_deliver(pdu_hex)
        else:
            self._engine.held.append(pdu_hex)

    def stored(self) -> dict[int, tuple[int, str]]:
        """A snapshot of the SIM store: index → (stat, PDU hex)."""
        with self._lock:
            return dict(self._engine.storage)

    def held_count(self) -> int:
        """Messages the network is holding because the SIM is full or the modem is off."""
        with self._lock:
            return len(self._engine.held) + len(self._engine.held_reports)

    # ------------------------------------------------------------ what was sent

    def add_listener(self, callback: Callable[[SentMessage], None]) -> None:
        """Call ``callback`` (from the modem thread) for every whole message sent through the modem."""
        with self._lock:
            self._listeners.append(callback)

    def add_prompt_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the modem thread) each time ``AT+CMGS`` is about to prompt for its PDU."""
        with self._lock:
            self._prompt_listeners.append(callback)

    def _prompted(self) -> None:
        for listener in self._prompt_listeners:
            try:
                listener()
            except Exception:  # a listener must not stop the modem
                log.exception("emulator prompt listener failed")

    def sent_parts(self) -> list[SentPart]:
        """Every SMS-SUBMIT accepted, in order."""
        with self._lock:
            return list(self._engine.sent_parts)

    def sent_messages(self) -> list[SentMessage]:
        """Whole messages sent (concatenated parts joined), in order of completion."""
        with self._lock:
            return list(self._messages)

    def wait_sent(self, n: int, timeout: float) -> list[SentMessage]:
        """Block until at least ``n`` whole messages were sent; raises ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._sent_cond:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._messages)} of {n} messages sent within {timeout} s")
                self._sent_cond.wait(left)
            return list(self._messages)

    def _record_sent(self, part: SentPart) -> None:
        if part.concat is None or part.concat.total <= 1:
            done = [part]
        else:
            key = (part.to, part.concat.ref, part.concat.total)
            slot = self._partial.setdefault(key, {})
            slot[part.concat.seq] = part
            if len(slot) < part.concat.total:
                return
            done = [slot[i] for i in sorted(slot)]
            del self._partial[key]
        message = SentMessage(
            to=part.to,
            text="".join(p.text for p in done),
            parts=len(done),
            message_refs=tuple(p.message_ref for p in done),
            encoding=part.encoding,
        )
        self._messages.append(message)
        self._sent_cond.notify_all()
        for listener in self._listeners:
            try:
                listener(message)
            except Exception:  # a listener must not stop the modem
                log.exception("emulator listener failed")

    # ------------------------------------------------------------ pty and thread

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.pty_name = os.ttyname(slave)
        link = Path(self.port)
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(self.pty_name, tmp)
        os.replace(tmp, link)

    def _close_pty(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None
        with contextlib.suppress(FileNotFoundError):
            Path(self.port).unlink()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _loop(self) -> None:
        while True:
            with self._lock:
                if not self._running:
                    return
                master = self._master
                deadline = self._engine.next_deadline()
            timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - self._clock()))
            fds = [self._wake_r] + ([master] if master is not None else [])
            try:
                readable, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):  # the pty was closed under us (unplug)
                continue
            if self._wake_r in readable:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            data = b""
            if master is not None and master in readable:
                try:
                    data = os.read(master, 4096)
                except (BlockingIOError, OSError):
                    data = b""
            with self._lock:
                if self._master != master:
                    continue
                out = []
                if data:
                    echo = self._engine.receive(data)
                    if echo:
                        out.append(echo)
                if self._engine.powered:
                    try:
                        out.extend(self._engine.step(self._clock(), datetime.now().astimezone()))
                    except Exception:  # a bug in the engine must not take the modem away from its clients
                        log.exception("emulated modem: command failed")
                        self._engine.inbuf.clear()
                        out.append(b"\r\nERROR\r\n")
                for chunk in out:
                    self._write(chunk)

    def _write(self, chunk: bytes) -> None:
        master = self._master
        if master is None:
            return
        view = memoryview(chunk)
        deadline = time.monotonic() + 2.0
        while view:
            try:
                n = os.write(master, view)
                view = view[n:]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    log.warning("emulated modem: nobody reads the port; %d bytes dropped", len(view))
                    return
                select.select([], [master], [], 0.05)
            except OSError:
                return


def main(argv: list[str] | None = None) -> int:
    """Run the emulator as a process: ``python -m sms_gateway.emulator --link PATH``."""
    import argparse
    import sys

    from sms_gateway.emulator_cli import run_interactive

    parser = argparse.ArgumentParser(description="GSM modem emulator on a pseudo-terminal")
    parser.add_argument("--link", default="/tmp/motcua-sms/ttyEMU0", help="stable path clients open")
    parser.add_argument("--seconds-per-part", type=float, default=0.0)
    parser.add_argument("--slots", type=int, default=30)
    parser.add_argument("--quiet", action="store_true", help="serve only, no interactive prompt")
    args = parser.parse_args(argv)
    emulator = ModemEmulator(
        link_path=args.link, storage_slots=args.slots, seconds_per_part=args.seconds_per_part
    )
    emulator.start()
    try:
        if args.quiet:
            print(f"modem emulator on {emulator.port}", flush=True)
            threading.Event().wait()
        return run_interactive(emulator, sys.stdin, sys.stdout)
    except KeyboardInterrupt:
        return 0
    finally:
        emulator.stop()


if __name__ == "__main__":
    raise SystemExit(main())
