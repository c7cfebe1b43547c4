"""Speech output through espeak-ng (Vietnamese voice ``vi``, English ``en``), on the speaker's own thread.

``say`` only hands the text over and returns; the thread runs the configured command (by default
``espeak-ng -v vi -s 140 -- TEXT``, which plays through the default audio output), and a newer ``say``
interrupts the current one. espeak-ng exits 0 even when no audio device opens, so its error output is
read: a missing program or audio output makes the speaker unavailable (reported once through
``on_problem``) and the kiosk goes on silently.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

_AUDIO_ERRORS = ("unknown pcm", "cannot find card", "audio", "error:")


class EspeakSpeaker:
    """The ``Speaker`` port over an external speech program."""

    def __init__(
        self,
        command: Sequence[str],
        voices: dict[str, str],
        *,
        rate: int = 140,
        timeout_s: float = 90.0,
        on_problem: Callable[[str], None] | None = None,
        spawn: Callable[..., Any] = subprocess.Popen,
    ) -> None:
        self.command = tuple(command)
        self.voices = dict(voices)
        self.rate = rate
        self.timeout_s = timeout_s
        self.on_problem = on_problem
        self._spawn = spawn
        self._lock = threading.Lock()
        self._wanted: tuple[str, str] | None = None
        self._proc: Any = None
        self._event = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closed = False
        self._available = True
        self.spoken = 0
        self._thread = threading.Thread(target=self._run, name="kiosk-speech", daemon=True)
        self._thread.start()

    def argv(self, text: str, lang: str) -> list[str]:
        """The command line for ``text`` (placeholders replaced; the text is never re-interpreted)."""
        voice = self.voices.get(lang) or self.voices.get("vi", "vi")
        return [
            p.replace("{voice}", voice).replace("{rate}", str(self.rate)).replace("{text}", text)
            for p in self.command
        ]

    def say(self, text: str, lang: str) -> None:
        """Speak ``text`` soon, interrupting current speech; returns at once."""
        if not text.strip() or self._closed:
            return
        with self._lock:
            self._wanted = (text, lang)
            self._idle.clear()
        self._interrupt()
        self._event.set()

    def stop(self) -> None:
        """Stop speaking now and forget what was waiting."""
        with self._lock:
            self._wanted = None
        self._interrupt()
        self._event.set()  # the thread notices there is nothing left and reports idle

    def available(self) -> bool:
        """False once the program or the audio output failed."""
        return self._available

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is being said or waiting to be said; False on timeout."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop speaking and end the thread."""
        self._closed = True
        self.stop()
        self._event.set()
        self._thread.join(5.0)

    def _interrupt(self) -> None:
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()

    def _run(self) -> None:
        while not self._closed:
            self._event.wait()
            self._event.clear()
            with self._lock:
                wanted, self._wanted = self._wanted, None
            if wanted is not None and not self._closed:
                self._speak(*wanted)
            with self._lock:
                if self._wanted is None:
                    self._idle.set()

    def _speak(self, text: str, lang: str) -> None:
        try:
            proc = self._spawn(
                self.argv(text, lang),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as err:
            self._problem(f"speech program {self.command[0]!r} cannot run ({err.strerror or err})")
            return
        with self._lock:
            self._proc = proc
        try:
            _, err_out = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            err_out = b""
        finally:
            with self._lock:
                self._proc = None
        text_err = (err_out or b"").decode("utf-8", "replace").lower()
        if proc.returncode not in (0, -15) or any(k in text_err for k in _AUDIO_ERRORS):
            first = text_err.strip().splitlines()[-1] if text_err.strip() else f"exit code {proc.returncode}"
            self._problem(f"speech output failed: {first[:200]}")
            return
        self.spoken += 1
        if not self._available:
            log.info("speech output works again")
            self._available = True

    def _problem(self, detail: str) -> None:
        if self._available:
            log.warning("%s; the kiosk goes on without speech", detail)
        self._available = False
        if self.on_problem is not None:
            try:
                self.on_problem(detail)
            except Exception:  # a UI callback must not kill the speech thread
                log.exception("speech problem callback failed")


class SilentSpeaker:
    """A speaker for kiosks configured without speech: always unavailable."""

    def say(self, text: str, lang: str) -> None:
        """Nothing is said."""

    def stop(self) -> None:
        """Nothing to stop."""

    def available(self) -> bool:
        """Always False."""
        return False

    def close(self) -> None:
        """Nothing to close."""
