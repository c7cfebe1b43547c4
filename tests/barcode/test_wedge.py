"""The keyboard-wedge burst detector on timed key sequences, and the evdev keymap."""

from __future__ import annotations

import queue

import pytest

from barcode import evdev_reader
from barcode.errors import FeatureUnavailable
from barcode.evdev_reader import KEY_CAPSLOCK, KEY_LEFTSHIFT, KEY_RIGHTSHIFT, KeyTranslator
from barcode.settings import BarcodeSection
from barcode.wedge import ENTER, TAB, WedgeDetector, WedgeOutput, WedgeScan, WedgeTyped

CODE = "000.00.15.H56-240315-0001"


def run(
    detector: WedgeDetector, keys: list[tuple[str, float]], end: float | None = None
) -> list[WedgeOutput]:
    """Feed (key, time) pairs, then poll well after the last key."""
    out: list[WedgeOutput] = []
    for key, at in keys:
        out += detector.feed(key, at)
    out += detector.poll((end if end is not None else keys[-1][1]) + 5.0)
    return out


def burst(text: str, start: float = 10.0, gap: float = 0.004) -> list[tuple[str, float]]:
    return [(ch, start + i * gap) for i, ch in enumerate(text)]


def typing(text: str, start: float = 10.0, gap: float = 0.160) -> list[tuple[str, float]]:
    return [(ch, start + i * gap) for i, ch in enumerate(text)]


def test_scanner_burst_ending_in_enter_is_a_scan() -> None:
    [scan] = run(WedgeDetector(), burst(CODE + ENTER))
    assert isinstance(scan, WedgeScan) and scan.text == CODE
    assert scan.ended - scan.started == pytest.approx(0.004 * len(CODE))


def test_tab_terminates_too_and_enter_may_come_a_little_late() -> None:
    [scan] = run(WedgeDetector(), burst(CODE + TAB))
    assert isinstance(scan, WedgeScan)
    keys = burst(CODE)
    keys.append((ENTER, keys[-1][1] + 0.070))  # within the grace given to a long fast run
    [scan] = run(WedgeDetector(), keys)
    assert isinstance(scan, WedgeScan) and scan.text == CODE


def test_person_typing_passes_through_key_by_key() -> None:
    out = run(WedgeDetector(), typing(CODE + ENTER))
    assert all(isinstance(o, WedgeTyped) for o in out)
    assert "".join(o.text for o in out if isinstance(o, WedgeTyped)) == CODE + ENTER
    assert [o.keys for o in out[-2:]] == [("1",), (ENTER,)]  # type: ignore[union-attr]


def test_short_fast_run_is_typing() -> None:
    [out] = run(WedgeDetector(min_length=6), burst("12" + ENTER))
    assert isinstance(out, WedgeTyped) and out.keys == ("1", "2", ENTER)


def test_burst_without_terminator_is_released_as_typing_after_a_pause() -> None:
    detector = WedgeDetector()
    for key, at in burst(CODE):
        assert detector.feed(key, at) == []
    deadline = detector.deadline()
    assert deadline is not None
    assert detector.poll(deadline - 0.001) == []
    [out] = detector.poll(deadline + 0.001)
    assert isinstance(out, WedgeTyped) and out.text == CODE
    assert detector.deadline() is None


def test_typing_then_scanning_on_the_same_input() -> None:
    keys = typing("ab", start=1.0) + burst(CODE + ENTER, start=2.0) + typing("c" + ENTER, start=3.0)
    out = run(WedgeDetector(), keys)
    scans = [o for o in out if isinstance(o, WedgeScan)]
    typed = "".join(o.text for o in out if isinstance(o, WedgeTyped))
    assert [s.text for s in scans] == [CODE]
    assert typed == "abc" + ENTER


def test_prefix_and_suffix_are_required_and_stripped() -> None:
    detector = WedgeDetector(prefix="~", suffix="#")
    [scan] = run(detector, burst("~" + CODE + "#" + ENTER))
    assert isinstance(scan, WedgeScan) and scan.text == CODE
    [out] = run(detector, burst(CODE + ENTER, start=20.0))  # fast, but no prefix: not our scanner
    assert isinstance(out, WedgeTyped)


def test_suffix_alone_can_end_a_scan_without_enter() -> None:
    detector = WedgeDetector(suffix="#", terminators=())
    out = []
    for key, at in burst(CODE + "#"):
        out += detector.feed(key, at)
    assert [o.text for o in out] == [CODE]


def test_gap_terminated_mode_for_scanners_without_enter() -> None:
    [scan] = run(WedgeDetector(terminators=()), burst(CODE))
    assert isinstance(scan, WedgeScan) and scan.text == CODE


def test_aim_identifier_sets_the_symbology() -> None:
    [scan] = run(WedgeDetector(), burst("]C0" + CODE + ENTER))
    assert isinstance(scan, WedgeScan) and scan.symbology == "code128" and scan.text == "]C0" + CODE


def test_special_key_breaks_a_burst() -> None:
    keys = burst(CODE[:10]) + [("backspace", 10.041)] + burst(CODE[10:] + ENTER, start=10.045)
    out = run(WedgeDetector(), keys)
    assert not any(isinstance(o, WedgeScan) and o.text == CODE for o in out)


def test_flood_longer_than_max_length_is_not_a_scan() -> None:
    out = run(WedgeDetector(max_length=50), burst("9" * 80 + ENTER))
    assert not any(isinstance(o, WedgeScan) for o in out)


def test_from_settings() -> None:
    s = BarcodeSection(wedge_max_gap_ms=10, wedge_prefix="$", wedge_terminators=("enter",))
    detector = WedgeDetector.from_settings(s)
    [out] = run(detector, burst("$" + CODE + TAB, gap=0.008))  # 8 ms > 10 ms? no: but Tab is not a terminator
    assert isinstance(out, WedgeTyped)
    [scan] = run(detector, burst("$" + CODE + ENTER, gap=0.008, start=30))
    assert isinstance(scan, WedgeScan) and scan.text == CODE


# --- evdev keymap ---------------------------------------------------------------------------------------

KEY = {ch: code for code, (normal, _) in evdev_reader.KEYMAP.items() for ch in normal if code < 71}
SHIFTED = {ch: code for code, (_, shifted) in evdev_reader.KEYMAP.items() for ch in shifted if code < 71}


def type_events(text: str) -> list[tuple[int, int]]:
    """(code, value) events a US keyboard scanner sends for ``text``, pressing Shift as needed."""
    events: list[tuple[int, int]] = []
    for ch in text:
        if ch in KEY and ch not in SHIFTED:
            events += [(KEY[ch], 1), (KEY[ch], 0)]
        else:
            events += [(KEY_LEFTSHIFT, 1), (SHIFTED[ch], 1), (SHIFTED[ch], 0), (KEY_LEFTSHIFT, 0)]
    return events


def test_keymap_with_shift_turns_a_scanner_into_text_and_a_scan() -> None:
    translator = KeyTranslator()
    detector = WedgeDetector()
    payload = f"]Q1https://DVC.x.vn/Tra?ma={CODE}"
    out = []
    t = 5.0
    for code, value in [*type_events(payload), (28, 1), (28, 0)]:
        char = translator.feed(code, value)
        if char is not None:
            t += 0.003
            out += detector.feed(char, t)
    assert [o.text for o in out] == [payload]


def test_keymap_caps_lock_keypad_repeats_and_unknown_keys() -> None:
    tr = KeyTranslator()
    assert tr.feed(30, 1) == "a"
    assert tr.feed(30, 2) is None  # auto-repeat ignored
    assert tr.feed(30, 0) is None
    tr.feed(KEY_CAPSLOCK, 1)
    tr.feed(KEY_CAPSLOCK, 0)
    assert tr.feed(30, 1) == "A"
    assert tr.feed(2, 1) == "1"  # Caps Lock does not shift digits
    tr.feed(KEY_RIGHTSHIFT, 1)
    assert tr.feed(30, 1) == "a"  # Shift undoes Caps Lock for letters
    assert tr.feed(2, 1) == "!"
    tr.feed(KEY_RIGHTSHIFT, 0)
    assert [tr.feed(c, 1) for c in (79, 80, 81, 82, 83, 74)] == ["1", "2", "3", "0", ".", "-"]
    assert tr.feed(96, 1) == ENTER
    assert tr.feed(999, 1) is None


def test_evdev_missing_says_so_clearly() -> None:
    try:
        import evdev  # noqa: F401
    except ImportError:
        with pytest.raises(FeatureUnavailable) as err:
            evdev_reader.EvdevScanner("/dev/input/event0", queue.Queue())
        assert "evdev" in str(err.value) and "not installed" in str(err.value)
    else:
        pytest.skip("evdev is installed here; the missing-package message cannot be shown")
