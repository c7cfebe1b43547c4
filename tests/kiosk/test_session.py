"""The kiosk's state machine without Kivy: screens, keypad, scans, answers, idle reset, rating, statistics."""

from __future__ import annotations

import gc
import types

from dossier.codes import CodeParser
from dossier.lookup import LookupResult, Outcome
from dossier.model import Dossier, Status
from kiosk.ports import Scan
from kiosk.present import result_view
from kiosk.screenshots import ManualClock
from kiosk.session import (
    Hush,
    LoadStats,
    SaveRating,
    Screen,
    Session,
    SessionConfig,
    Speak,
    StartLookup,
    StatsAnswer,
)
from tests.kiosk.data import AGENCY, NOW, STATS, dossier, found

CONFIG = SessionConfig(idle_timeout_s=60, warning_lead_s=15, lookup_timeout_s=8, agency_id=AGENCY)


def make() -> tuple[Session, ManualClock]:
    clock = ManualClock()
    return Session(CONFIG, CodeParser(), clock), clock


def start(session: Session, d: Dossier) -> StartLookup:
    effects = session.scan(Scan(d.code))
    return next(e for e in effects if isinstance(e, StartLookup))


def test_keypad_inserts_separators_and_explains_mistakes() -> None:
    s, _ = make()
    s.open_keypad()
    for ch in "0000015H56":
        s.key(ch)
    assert s.keypad_text() == ("000.00.15.H56", "-______-____")
    assert s.submit() == []
    assert s.keypad_reason is not None and s.keypad_reason.key == "why_incomplete"
    assert "10" in s.keypad_hint()
    for ch in "2413150001":
        s.key(ch)
    assert s.submit() == []
    assert "15/13/2024" in s.keypad_hint()  # the parser's reason, in plain words
    for _ in range(8):
        s.delete()
    for ch in "0315" + "0001":
        s.key(ch)
    effects = s.submit()
    assert effects == [StartLookup(effects[0].ticket, "000.00.15.H56-240315-0001")]  # type: ignore[union-attr]
    assert s.busy is not None


def test_letter_expected_reason() -> None:
    s, _ = make()
    s.open_keypad()
    for ch in "00000151":
        s.key(ch)
    s.submit()
    assert s.keypad_reason is not None and s.keypad_reason.key == "why_letter_expected"
    assert "11" in s.keypad_hint()


def test_scan_from_any_screen_and_garbage_scans() -> None:
    s, _ = make()
    s.open_rating()
    assert s.scan(Scan(None, "not a dossier code: binary data, not text")) == []
    assert s.screen is Screen.RATING and "không phải mã hồ sơ" in s.notice_text()
    d = dossier(Status.IN_PROGRESS)
    ticket = start(s, d).ticket
    assert s.lookup_done(ticket, found(d))
    assert s.screen is Screen.RESULT and s.notice is None


def test_stale_answers_are_dropped() -> None:
    s, _ = make()
    first = start(s, dossier(Status.ACCEPTED))
    second = start(s, dossier(Status.RETURNED))
    assert not s.lookup_done(first.ticket, found(dossier(Status.ACCEPTED)))
    assert s.lookup_done(second.ticket, found(dossier(Status.RETURNED)))
    assert s.result is not None and s.result.dossier is not None
    assert s.result.dossier.status is Status.RETURNED


def test_not_found_and_unavailable_and_retry() -> None:
    s, _ = make()
    d = dossier(Status.ACCEPTED)
    t = start(s, d)
    s.lookup_done(t.ticket, LookupResult(d.code, Outcome.NOT_FOUND, None, "central", None, 0.0))
    assert s.screen is Screen.NOT_FOUND
    s.retype()
    assert s.screen is Screen.KEYPAD and s.keypad_text()[0] == d.code
    t = start(s, d)
    s.lookup_done(t.ticket, LookupResult(d.code, Outcome.UNAVAILABLE, None, "none", None, None, "down"))
    assert s.screen is Screen.UNAVAILABLE
    retry = s.retry()
    assert isinstance(retry[0], StartLookup) and retry[0].code == d.code


def test_lookup_deadline_bounds_the_wait() -> None:
    s, clock = make()
    t = start(s, dossier(Status.ACCEPTED))
    clock.mono += 0.2
    assert not s.spinner_visible()
    clock.mono += 0.2
    assert s.spinner_visible()  # after 300 ms
    clock.mono += CONFIG.lookup_timeout_s
    s.tick()
    assert s.screen is Screen.UNAVAILABLE and s.busy is None
    assert not s.lookup_done(t.ticket, found(dossier(Status.ACCEPTED)))  # the late answer is ignored


def test_idle_warning_then_reset_forgets_the_citizen() -> None:
    s, clock = make()
    d = dossier(Status.SUPPLEMENT_REQUESTED)
    s.lookup_done(start(s, d).ticket, found(d))
    s.toggle_language()
    assert reaches(s, d)  # while shown, the session holds the dossier
    clock.mono += CONFIG.idle_timeout_s - CONFIG.warning_lead_s - 1
    assert s.tick() == []
    clock.mono += 2
    effects = s.tick()
    assert s.warning and isinstance(effects[0], Speak) and "more time" in effects[0].text.lower()
    s.touch()  # "Cần thêm thời gian?" → yes
    assert not s.warning
    clock.mono += CONFIG.idle_timeout_s + 1  # even after a jump, the warning comes first ...
    assert isinstance(s.tick()[0], Speak) and s.warning and s.screen is Screen.RESULT
    clock.mono += CONFIG.warning_lead_s - 1
    assert s.tick() == [] and s.result is not None
    clock.mono += 1.5
    effects = s.tick()  # ... with its full lead time, then the reset
    assert Hush() in effects
    assert s.screen is Screen.WELCOME and s.lang == "vi"
    assert s.result is None and s.raw == "" and s.last_code == "" and s.rating.code == ""
    assert s.result_view() is None
    assert not reaches(s, d)


def reaches(start: object, target: object, limit: int = 50_000) -> bool:
    """Whether ``target`` is reachable from ``start`` through object references (modules and types aside)."""
    seen = {id(start)}
    todo = [start]
    while todo and len(seen) < limit:
        obj = todo.pop()
        for ref in gc.get_referents(obj):
            if ref is target:
                return True
            if id(ref) in seen or isinstance(ref, (type, types.ModuleType, types.FunctionType, str, bytes)):
                continue
            seen.add(id(ref))
            todo.append(ref)
    return False


def test_welcome_without_data_never_warns() -> None:
    s, clock = make()
    clock.mono += 10_000
    assert s.tick() == [] and not s.warning


def test_rating_needs_both_answers_and_saves_once() -> None:
    s, clock = make()
    d = dossier(Status.RETURNED)
    s.lookup_done(start(s, d).ticket, found(d))
    s.open_rating()
    assert s.rating.code == d.code and s.rating.agency_id == AGENCY
    s.choose("service", 1)
    assert s.submit_rating() == [] and s.rating.error == "rating_incomplete"
    s.choose("staff", 3)
    (save,) = s.submit_rating()
    assert isinstance(save, SaveRating)
    assert s.submit_rating() == []  # a double tap does not save twice
    assert save.rating["service"] == 1 and save.rating["staff"] == 3 and len(save.rating["id"]) == 36
    s.rating_saved(save.ticket, True)
    assert s.screen is Screen.THANKS
    clock.mono += CONFIG.thanks_timeout_s
    s.tick()
    assert s.screen is Screen.WELCOME


def test_rating_failure_is_told() -> None:
    s, _ = make()
    s.open_rating()
    s.choose("service", 2)
    s.choose("staff", 2)
    (save,) = s.submit_rating()
    assert isinstance(save, SaveRating) and save.rating["code"] == "" and save.rating["agency_id"] == AGENCY
    s.rating_saved(save.ticket, False)
    assert s.screen is Screen.RATING and s.rating.error == "rating_not_saved"


def test_statistics_view() -> None:
    s, _ = make()
    (load,) = s.open_stats()
    assert isinstance(load, LoadStats)
    assert s.stats_view()[0] == []
    s.stats_loaded(
        load.ticket, StatsAnswer(STATS, {**STATS, "period": {"year": NOW.year}}, fetched_at=NOW, cached=True)
    )
    cards, status = s.stats_view()
    assert [c.title for c in cards] == [f"Tháng {NOW.month}/{NOW.year}", f"Năm {NOW.year}"]
    assert cards[0].rate == "Tỉ lệ đúng hạn: 83%" and ("Trễ hạn", "5") in cards[0].rows
    assert "đã lưu" in status
    s.stats_loaded(load.ticket + 99, StatsAnswer(None, None, problem="none"))  # not awaited: ignored
    assert s.stats_view()[0]


def test_result_view_has_every_regulated_field_in_both_languages() -> None:
    d = dossier(Status.IN_PROGRESS, overdue=True)
    for lang, labels in (
        ("vi", ("Mã hồ sơ", "Thủ tục", "Người nộp", "Tổ chức", "Ngày nộp", "Ngày tiếp nhận", "Ngày hẹn trả",
                "Ngày có kết quả", "Cơ quan xử lý", "Phòng ban", "Cán bộ xử lý")),
        ("en", ("Dossier code", "Procedure", "Applicant", "Organisation", "Submitted", "Received", "Due",
                "Result date", "Handling agency", "Department", "Officer")),
    ):  # fmt: skip
        view = result_view(found(d, source="stale"), lang, NOW, url_template="https://x.vn/?ma={code}")
        shown = dict(view.fields)
        assert all(label in shown for label in labels)
        assert shown[labels[2]] == "Nguyễn V. Á."  # masked
        assert view.flag in ("QUÁ HẠN", "OVERDUE") and view.flag_text
        assert view.banner and len(view.timeline) == 2
        assert view.qr_url == f"https://x.vn/?ma={d.code}"
    finished = result_view(found(dossier(Status.FINISHED)), "vi", NOW)
    assert finished.flag == "BẠN CẦN LÀM" and "nhận" in finished.next_steps[0]


def test_speech_text_for_every_screen() -> None:
    s, _ = make()
    assert "Đưa mã" in s.speech()
    s.open_keypad()
    s.key("0")
    assert "0" in s.speech()
    d = dossier(Status.FEES_DUE)
    s.lookup_done(start(s, d).ticket, found(d))
    s.toggle_language()
    spoken = s.speech()
    assert spoken.startswith("State: Fees or taxes to pay") and "Pay the fees" in spoken


def test_every_text_in_both_languages_with_the_same_placeholders() -> None:
    import string

    from kiosk import i18n

    for key in i18n.text_keys():
        vi, en = i18n.both(key)
        assert vi.strip() and en.strip(), key
        fields = [{f for _, f, _, _ in string.Formatter().parse(text) if f} for text in (vi, en)]
        assert fields[0] == fields[1], key


def test_the_model_and_the_stores_work_without_kivy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kiosk.session, kiosk.ratings, kiosk.stats, kiosk.printing, kiosk.speech, kiosk.keypad;"
        "sys.exit(any(m == 'kivy' or m.startswith('kivy.') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], timeout=60, check=False).returncode == 0
