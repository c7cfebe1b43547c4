"""A GSM modem emulator on a pseudo-terminal, reachable at a stable symlink path (like /dev/serial/by-id).

One thread owns the pty and the AT engine (``emulator_at.AtEngine``); the public methods only take the
lock, change the engine's state and wake the thread. Used by tests, benchmarks and ``motcua sms emulate``.
The emulator does not keep the pty's other end open: it sees whether a client has the port open (the
pty hangs up when nobody does), and like a USB modem whose port nobody opened, it then drops what it
would have written (notices, direct ``+CMT``) and stores messages instead of routing them.
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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sms_gateway import pdu
from sms_gateway.emulator_at import AtEngine
from sms_gateway.emulator_types import Faults, ModemIdentity, ModemProfile, SentMessage, SentPart

log = logging.getLogger(__name__)

__all__ = ["Faults", "ModemEmulator", "ModemIdentity", "ModemProfile", "SentMessage", "SentPart"]

_NO_CLIENT_POLL = 0.02  # seconds between checks for a client opening the port while nobody has it open


class ModemEmulator:
    """An AT-command GSM modem on a pty; ``start()`` returns the path clients open."""

    def __init__(
        self,
        *,
        link_path: str | os.PathLike[str] | None = None,
        storage_slots: int | None = None,
        seconds_per_part: float = 0.0,
        pin: str = "",
        identity: ModemIdentity | None = None,
        profile: ModemProfile | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        ident = identity or ModemIdentity()
        ident.pin = pin or ident.pin
        prof = dataclasses.replace(profile or ModemProfile())
        prof.capacity = dict(prof.capacity)
        if storage_slots is not None:
            prof.capacity["SM"] = storage_slots
        self._engine = AtEngine(
            identity=ident,
            seconds_per_part=seconds_per_part,
            on_sent=self._record_sent,
            on_prompt=self._prompted,
            profile=prof,
        )
        self._engine.powered = True
        self._engine.listening = False  # until a client opens the port
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
        # Closed pty masters wait here for the emulator's thread to close them: closing an fd that
        # thread may be polling or reading would let the number be reused (say by a socket) and read
        # from there.
        self._retired: list[int] = []
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
        """Plug it back: a fresh pty at the same symlink path; the modem is at its power-on settings again
        and stores what the network held meanwhile where those settings say (memories keep their content)."""
        with self._lock:
            self._engine.power_on()
            self._engine.powered = True
            self._engine.listening = False  # nobody has the new port open yet
            self._open_pty()
            self._engine.flush_held()
        self._wake()
        log.info("emulated modem plugged in again at %s", self.pty_name)

    def reset(self) -> None:
        """A spontaneous reset (a brown-out on USB power): same port, power-on settings, command lost."""
        with self._lock:
            self._engine.reset()
        self._wake()
        log.info("emulated modem reset itself")

    def settings(self) -> dict[str, object]:
        """The modem's current volatile settings (what a reset brings back to the profile's defaults)."""
        with self._lock:
            e = self._engine
            return {"echo": e.echo, "cnmi": tuple(e.cnmi), "cpms": tuple(e.cpms), "text_mode": e.text_mode}

    @property
    def resets(self) -> int:
        """How many spontaneous resets happened (``reset()`` and the ``reset_at_command`` fault)."""
        with self._lock:
            return self._engine.resets

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
        stored_in: str = "",
    ) -> list[str]:
        """A phone texts the modem: SMS-DELIVER part(s) routed per the modem's settings; returns the PDUs.

        ``stored_in`` puts them silently in that memory instead, as if they came under other settings."""
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
                if stored_in and self._engine.mem.store(stored_in, p.hex) is None:
                    raise ValueError(f"memory {stored_in} is full")
                if not stored_in:
                    self._deliver(p.hex)
        self._wake()
        return [p.hex for p in pdus]

    def inject_pdu(self, pdu_hex: str) -> None:
        """The network delivers one raw PDU (SMSC field first), decodable or not."""
        with self._lock:
            self._deliver(pdu_hex)
        self._wake()

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Hold every notice back until the block ends, so that the notices of all messages injected in it
        are pending at once (with the ``double_cmti`` fault they then go out in one write)."""
        with self._lock:
            self._engine.urc_hold += 1
        try:
            yield
        finally:
            with self._lock:
                self._engine.urc_hold -= 1
            self._wake()

    def _deliver(self, pdu_hex: str) -> None:
        self._engine.network_deliver(pdu_hex)

    def stored(self, memory: str | None = None) -> dict[Any, tuple[int, str]]:
        """Stored messages and reports: of one memory (index → (stat, PDU hex)), or of all of them
        ((memory, index) → (stat, PDU hex))."""
        with self._lock:
            if memory is not None:
                return dict(self._engine.mem.entries(memory))
            return dict(self._engine.mem.snapshot())

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
        tty.setraw(slave)  # the line settings stay with the pty while its master is open
        os.set_blocking(master, False)
        self._master = master
        self.pty_name = os.ttyname(slave)
        os.close(slave)  # only clients hold it: a hang-up then means nobody has the port open
        link = Path(self.port)
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        os.symlink(self.pty_name, tmp)
        os.replace(tmp, link)

    def _close_pty(self) -> None:
        """Take the pty away (caller holds the lock); its fd is closed by the thread that polls it."""
        if self._master is not None:
            self._retired.append(self._master)
        self._master = None
        with contextlib.suppress(FileNotFoundError):
            Path(self.port).unlink()
        thread = self._thread
        if thread is None or not thread.is_alive() or threading.current_thread() is thread:
            self._close_retired()
        else:
            self._wake()

    def _close_retired(self) -> None:
        while self._retired:
            fd = self._retired.pop()
            with contextlib.suppress(OSError):
                os.close(fd)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    @staticmethod
    def _client_present(master: int) -> bool:
        """True while some client has the pty's other end open (no hang-up on the master)."""
        poller = select.poll()
        poller.register(master, select.POLLIN)
        try:
            return not any(ev & select.POLLHUP for _, ev in poller.poll(0))
        except OSError:
            return False

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._close_retired()  # no fd of ours is in use at this point
                if not self._running:
                    return
                master = self._master
                deadline = self._engine.next_deadline()
            present = master is not None and self._client_present(master)
            timeout = 0.5 if deadline is None else max(0.0, min(0.5, deadline - self._clock()))
            if master is not None and not present:
                timeout = min(timeout, _NO_CLIENT_POLL)
            fds = [self._wake_r] + ([master] if present and master is not None else [])
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
                if self._engine.listening != present:
                    self._engine.listening = present
                out = []
                if data:
                    echo = self._engine.receive(data)
                    if echo:
                        out.append(echo)
                try:
                    out.extend(self._engine.step(self._clock(), datetime.now().astimezone()))
                except Exception:  # a bug in the engine must not take the modem away from its clients
                    log.exception("emulated modem: command failed")
                    self._engine.inbuf.clear()
                    out.append(b"\r\nERROR\r\n")
                if present:  # like a USB port nobody opened: what the modem says then is lost
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
    parser.add_argument("--slots", type=int, default=30, help="SIM (SM) slots")
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
