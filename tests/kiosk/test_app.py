"""The kiosk on real Kivy, offscreen: taps, scanner bursts, every state, time limits, kiosk mode, a11y."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kivy.core.window import Window

from dossier.errors import DossierNotFound
from dossier.lookup import LookupResult
from dossier.model import Status
from kiosk.app import KioskApp
from kiosk.ports import Scan
from kiosk.printing import DevicePrinter, SlipLine
from kiosk.raster import rasterise
from kiosk.screenshots import ManualClock
from kiosk.session import Screen, StatsAnswer
from kiosk.widgets import NoticeBar
from tests.kiosk.conftest import (
    SETTINGS_APP,
    STATES,
    Central,
    QueueScans,
    Speaker,
    check_a11y,
    find,
    pump,
    screen,
    tap,
    type_burst,
    wait_until,
)
from tests.kiosk.data import NOW, STATS


def test_keypad_taps_look_up_and_show_the_result(kiosk: Callable[..., KioskApp]) -> None:
    app = kiosk()
    root = app.root_widget
    check_a11y(app, "welcome")
    tap(find(root, action="keypad"))
    assert screen(app) is Screen.KEYPAD
    d = STATES[int(Status.FINISHED) - 1]
    for ch in d.code:
        if ch.isalnum():
            tap(find(root, text=ch, action="key"))
    keypad = app.screens[Screen.KEYPAD]
    assert d.code in keypad.code_markup  # separators inserted for the citizen
    check_a11y(app, "keypad")
    tap(find(root, action="delete"))
    assert app.session.raw == "".join(c for c in d.code if c.isalnum())[:-1]
    tap(find(root, action="submit"))
    assert "thiếu 1 ký tự" in keypad.hint and keypad.error
    check_a11y(app, "keypad with a reason")
    tap(find(root, text=d.code[-1], action="key"))
    tap(find(root, action="submit"))
    wait_until(lambda: screen(app) is Screen.RESULT, what="the result screen")
    rows = app.screens[Screen.RESULT].ids.rows
    wait_until(lambda: bool(rows.data), what="result rows")
    assert app.screens[Screen.RESULT].state == "Đã có kết quả, mời đến nhận"
    labels = {r.get("label") for r in rows.data}
    assert {"Mã hồ sơ", "Thủ tục", "Người nộp", "Ngày hẹn trả", "Cán bộ xử lý"} <= labels
    assert any(r["viewclass"] == "StepRow" for r in rows.data) and any(
        r["viewclass"] == "NextRow" for r in rows.data
    )


@pytest.mark.parametrize("index", range(len(STATES)))
def test_result_for_each_state_is_shown_accessibly(kiosk: Callable[..., KioskApp], index: int) -> None:
    app = kiosk()
    d = STATES[index]
    type_burst(d.code)
    wait_until(lambda: screen(app) is Screen.RESULT, what="the result screen")
    res = app.screens[Screen.RESULT]
    assert res.state == d.status.vi and res.qr_url.endswith(d.code)
    overdue = d.is_overdue(NOW)
    assert (res.flag == "QUÁ HẠN") == overdue  # the flag is a word, not only a colour
    assert res.ids.rows.data[0]["viewclass"] == "NextRow"
    check_a11y(app, f"result {d.status.name}")
    tap(find(app.root_widget, action="language"))
    assert res.state == d.status.en
    check_a11y(app, f"result {d.status.name} in English")


def test_scanner_bursts_garbage_and_a_scanner_thread(kiosk: Callable[..., KioskApp]) -> None:
    scans = QueueScans()
    app = kiosk(scans=scans)
    type_burst("\x00garbage-from-a-scanner-%%%")
    assert screen(app) is Screen.WELCOME and "không phải mã hồ sơ" in app.notice
    check_a11y(app, "welcome with a notice")
    tap(find(app.root_widget, cls=NoticeBar))
    assert app.notice == ""
    type_burst("https://dichvucong.hanam.gov.vn/tra-cuu?ma=000.00.15.H56-241315-0001")
    assert "15/13/2024" in app.notice  # the parser's reason in plain words
    d = STATES[2]
    scans.q.put(Scan(d.code, "", "camera"))  # from the scanner's own thread
    wait_until(lambda: screen(app) is Screen.RESULT, what="the result of a camera scan")
    assert app.session.result is not None and app.session.result.code == d.code


def test_not_found_cannot_check_and_nonsense_from_central(kiosk: Callable[..., KioskApp]) -> None:
    central = Central()
    app = kiosk(central=central)
    type_burst("000.00.15.H56-240101-0777")
    wait_until(lambda: screen(app) is Screen.NOT_FOUND, what="not found")
    check_a11y(app, "not found")
    tap(find(app.root_widget, action="retype"))
    assert screen(app) is Screen.KEYPAD and app.session.raw == "0000015H562401010777"
    central.mode = "nonsense"
    type_burst("000.00.15.H56-240101-0778")
    wait_until(lambda: screen(app) is Screen.UNAVAILABLE, what="cannot check")
    check_a11y(app, "cannot check")


def test_spinner_then_the_deadline_bounds_a_hanging_lookup(kiosk: Callable[..., KioskApp]) -> None:
    release = threading.Event()

    def hanging(code: str) -> LookupResult:
        release.wait(20)
        raise DossierNotFound(code)

    app = kiosk(lookup=hanging)
    try:
        type_burst(STATES[0].code)
        assert app.session.busy is not None and not app.busy  # no spinner in the first 300 ms
        wait_until(lambda: app.busy, what="the spinner")
        check_a11y(app, "spinner")
        wait_until(lambda: screen(app) is Screen.UNAVAILABLE, what="the lookup deadline")
        assert not app.busy
    finally:
        release.set()


def test_idle_warning_then_reset_clears_the_citizens_data(kiosk: Callable[..., KioskApp]) -> None:
    clock = ManualClock()
    speaker = Speaker()
    app = kiosk(clock=clock, speaker=speaker)
    d = STATES[4]
    type_burst(d.code)
    wait_until(lambda: screen(app) is Screen.RESULT, what="the result")
    res = app.screens[Screen.RESULT]
    clock.mono += SETTINGS_APP.idle_timeout_s - SETTINGS_APP.warning_lead_s + 0.5
    wait_until(lambda: app.warning, what="the idle warning")
    assert speaker.said[-1][0].startswith("Cần thêm thời gian?")  # the sound, besides the picture
    assert "giây" in app.warning_text
    check_a11y(app, "idle warning")
    tap(find(app.root_widget, action="more_time"))
    assert not app.warning and screen(app) is Screen.RESULT
    clock.mono += SETTINGS_APP.idle_timeout_s - SETTINGS_APP.warning_lead_s + 0.5
    wait_until(lambda: app.warning, what="the warning again")
    clock.mono += SETTINGS_APP.warning_lead_s + 0.5
    wait_until(lambda: screen(app) is Screen.WELCOME, what="the idle reset")
    assert app.session.result is None and app.session.last_code == ""
    assert res.ids.rows.data == [] and res.state == "" and res.qr_url == ""  # the widgets forgot too
    assert not app.warning


def test_escape_and_close_requests_do_not_exit(kiosk: Callable[..., KioskApp]) -> None:
    from kivy.base import EventLoop

    app = kiosk()
    status = EventLoop.status
    assert Window.dispatch("on_key_down", 27, 41, None, []) is True
    assert Window.dispatch("on_keyboard", 27, 41, None, []) is True
    assert Window.dispatch("on_request_close") is True
    pump(2)
    assert Window.closes == [] and EventLoop.status == status  # type: ignore[attr-defined]
    assert app.root_widget is not None and app.root_widget.parent is Window


def test_read_aloud_is_reachable_on_every_screen_and_speaks_off_the_ui_thread(
    kiosk: Callable[..., KioskApp],
) -> None:
    import subprocess

    from kiosk.speech import EspeakSpeaker

    threads: list[str] = []
    spawned = threading.Event()

    def spawn(argv: list[str], **kw: Any) -> Any:
        threads.append(threading.current_thread().name)
        spawned.set()
        return subprocess.Popen(["true"], **kw)

    speaker = EspeakSpeaker(
        ("espeak-ng", "-v", "{voice}", "--", "{text}"), {"vi": "vi", "en": "en"}, spawn=spawn
    )
    app = kiosk(speaker=speaker)
    tap(find(app.root_widget, action="read_aloud"))
    assert spawned.wait(10) and threads == ["kiosk-speech"]
    assert threading.current_thread().name not in threads
    for go in ("keypad", "stats", "rate"):
        tap(find(app.root_widget, action=go))
        assert screen(app) is not Screen.WELCOME
        find(app.root_widget, action="read_aloud")
        tap(find(app.root_widget, action="home"))


def test_statistics_and_rating_screens(kiosk: Callable[..., KioskApp], tmp_path: Path) -> None:
    class Stats:
        def load(self) -> StatsAnswer:
            return StatsAnswer(STATS, {**STATS, "period": {"year": NOW.year}}, fetched_at=NOW, cached=True)

    app = kiosk(stats=Stats())
    tap(find(app.root_widget, action="stats"))
    wait_until(lambda: bool(app.screens[Screen.STATS].ids.cards.children), what="statistics")
    assert "đã lưu" in app.screens[Screen.STATS].status
    check_a11y(app, "statistics")
    tap(find(app.root_widget, action="home"))
    tap(find(app.root_widget, action="rate"))
    tap(find(app.root_widget, action="choose", text="Rất hài lòng"))
    check_a11y(app, "rating")
    tap(find(app.root_widget, action="send_rating"))
    assert "Hãy chọn" in app.screens[Screen.RATING].error
    check_a11y(app, "rating with a reason")


def test_printing_a_slip_and_a_missing_printer(kiosk: Callable[..., KioskApp], tmp_path: Path) -> None:
    target = tmp_path / "lp0"
    app = kiosk(printer=DevicePrinter(str(target), append_file=True))
    type_burst(STATES[8].code)
    wait_until(lambda: screen(app) is Screen.RESULT, what="the result")
    tap(find(app.root_widget, action="print"))
    wait_until(lambda: "Đã in" in app.notice, what="printed")
    job = target.read_bytes()
    assert job.startswith(b"\x1b@") and job.count(b"\x1dv0") >= 2 and job.endswith(b"\x1dVB\x03")
    target.unlink()
    target.mkdir()  # the device is gone (a directory cannot be opened for writing)
    tap(find(app.root_widget, action="print"))
    wait_until(lambda: "Máy in chưa sẵn sàng" in app.notice, what="printer missing")
    assert screen(app) is Screen.RESULT


def test_raster_text_keeps_vietnamese_marks(window: Any) -> None:
    plain = rasterise([SlipLine("Ä")], 200)
    marked = rasterise([SlipLine("A")], 200)
    ink = sum(bin(b).count("1") for b in plain.data)
    assert ink > sum(bin(b).count("1") for b in marked.data) > 0  # the marks are printed
    title = rasterise([SlipLine("T", "title")], 100)
    top = next(y for y in range(title.height) if any(title.pixel(x, y) for x in range(title.width)))
    assert sum(title.pixel(x, top) for x in range(title.width)) > 8  # the bar of the T is on top


def test_no_more_time_goes_back_at_once(kiosk: Callable[..., KioskApp]) -> None:
    clock = ManualClock()
    app = kiosk(clock=clock)
    type_burst(STATES[1].code)
    wait_until(lambda: screen(app) is Screen.RESULT, what="the result")
    clock.mono += SETTINGS_APP.idle_timeout_s
    wait_until(lambda: app.warning, what="the idle warning")
    tap(find(app.root_widget, action="home_reset"))
    assert screen(app) is Screen.WELCOME and app.session.result is None and not app.warning


def test_a_scanner_or_speaker_that_stops_working_is_said_on_screen(kiosk: Callable[..., KioskApp]) -> None:
    from kiosk.speech import EspeakSpeaker

    class BrokenScans(QueueScans):
        def problems(self) -> list[str]:
            return ["camera 0 cannot be opened"]

    speaker = EspeakSpeaker(("no-such-speech-program", "{text}"), {"vi": "vi"})
    app = kiosk(scans=BrokenScans(), speaker=speaker)
    wait_until(lambda: bool(app.screens[Screen.WELCOME].scanner_note), what="the scanner note")
    check_a11y(app, "welcome with the scanner note")
    tap(find(app.root_widget, action="read_aloud"))
    wait_until(lambda: "Loa" in app.notice, what="the speaker notice")
    tap(find(app.root_widget, action="keypad"))  # the kiosk goes on
    assert screen(app) is Screen.KEYPAD
