"""Speech through the real espeak-ng: on the speaker's own thread, never blocking the caller."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from kiosk.speech import EspeakSpeaker

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def test_speaks_vietnamese_off_the_callers_thread(tmp_path: Path) -> None:
    wav = tmp_path / "out.wav"
    spawned: list[str] = []
    gate = threading.Event()
    done = threading.Event()

    def spawn(argv: list[str], **kw: Any) -> Any:
        spawned.append(threading.current_thread().name)
        gate.wait(10)  # the speech program is slow to start: the caller must not notice
        proc = subprocess.Popen(argv, **kw)
        done.set()
        return proc

    command = ("espeak-ng", "-v", "{voice}", "-s", "{rate}", "-w", str(wav), "--", "{text}")
    speaker = EspeakSpeaker(command, {"vi": "vi", "en": "en"}, spawn=spawn)
    try:
        speaker.say("Cần thêm thời gian? Hồ sơ đã có kết quả.", "vi")  # returns while the spawn is held
        assert not done.is_set()
        gate.set()
        assert done.wait(10)
        assert speaker.wait_idle(20)
        assert spawned == ["kiosk-speech"] and threading.current_thread().name not in spawned
        data = wav.read_bytes()
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 10_000
        assert speaker.available() and speaker.spoken == 1
    finally:
        gate.set()
        speaker.close()


def test_text_is_never_a_placeholder_or_an_option(tmp_path: Path) -> None:
    speaker = EspeakSpeaker(
        ("espeak-ng", "-v", "{voice}", "--", "{text}"), {"vi": "vi-vn-x-south", "en": "en"}
    )
    try:
        assert speaker.argv("-w /etc/x {voice}", "vi") == [
            "espeak-ng",
            "-v",
            "vi-vn-x-south",
            "--",
            "-w /etc/x {voice}",
        ]
        assert speaker.argv("Hello", "en")[2] == "en"
    finally:
        speaker.close()


def test_missing_program_or_audio_makes_it_unavailable_once() -> None:
    problems: list[str] = []
    got = threading.Event()

    def on_problem(detail: str) -> None:
        problems.append(detail)
        got.set()

    speaker = EspeakSpeaker(("no-such-speech-program", "{text}"), {"vi": "vi"}, on_problem=on_problem)
    try:
        speaker.say("Xin chào", "vi")
        assert got.wait(10)
        assert not speaker.available() and "cannot run" in problems[0]
    finally:
        speaker.close()
    got.clear()
    failing = EspeakSpeaker(("sh", "-c", "echo 'ALSA lib pcm.c: Unknown PCM default' >&2", "{text}"), {"vi": "vi"},
                            on_problem=on_problem)  # fmt: skip
    try:
        failing.say("Xin chào", "vi")
        assert got.wait(10)
        assert not failing.available() and "unknown pcm" in problems[-1]
    finally:
        failing.close()


def test_new_speech_interrupts_the_old() -> None:
    started = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(argv: list[str], **kw: Any) -> Any:
        proc = subprocess.Popen(argv, **kw)
        procs.append(proc)
        started.set()
        return proc

    speaker = EspeakSpeaker(("sleep", "{text}"), {"vi": "vi"}, spawn=spawn)
    try:
        speaker.say("30", "vi")
        assert started.wait(10)
        speaker.stop()
        assert procs[0].wait(10) == -15  # terminated, not waited out
    finally:
        speaker.close()
