"""The kiosk composed in appliance/: adapters, configuration, and ``motcua kiosk screenshots``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from appliance.config import Config, config_from_dict
from appliance.kiosk_wiring import BarcodeScans, WedgeKeys, make_kiosk_parts, office_agency
from barcode.events import CodeExtractor
from barcode.wedge import WedgeDetector
from dossier.cache import Cache
from dossier.codes import CodeParser
from dossier.errors import ConfigError
from dossier.lookup import LookupService
from dossier.model import Status
from kiosk.ports import Scan, Typed
from tests.kiosk.data import AGENCY, dossier

ROOT = Path(__file__).resolve().parents[2]


def test_wedge_keys_tell_a_burst_from_typing() -> None:
    keys = WedgeKeys(WedgeDetector(), CodeExtractor(CodeParser()))
    out = []
    t = 10.0
    for ch in "000.00.15.H56-240315-0001":
        out += keys.feed(ch, t)
        t += 0.004
    out += keys.feed("\n", t)
    assert out == [Scan("000.00.15.H56-240315-0001", "", "keyboard")]
    slow = keys.feed("7", 20.0) + keys.poll(20.5)
    assert slow == [Typed(("7",))]
    garbage = []
    for ch in "!!!!!!!!":
        garbage += keys.feed(ch, t)
        t += 0.002
    garbage += keys.feed("\n", t)
    assert len(garbage) == 1 and isinstance(garbage[0], Scan) and garbage[0].code is None


def test_kiosk_section_is_validated_and_documented() -> None:
    config = config_from_dict({"kiosk": {"idle_timeout_s": 60, "warning_lead_s": 15, "printer": "usb",
                                         "printer_device": "/dev/usb/lp0"}})  # fmt: skip
    assert config.kiosk.idle_timeout_s == 60 and config.kiosk.printer == "usb"
    for bad in ({"warning_lead_s": 200}, {"button_mm": 5}, {"public_lookup_url": "https://x.vn/"},
                {"printer": "usb"}, {"language": "fr"}, {"keypad_letters": ["h1"]}, {"colour": "red"}):  # fmt: skip
        with pytest.raises(ConfigError, match="kiosk"):
            config_from_dict({"kiosk": bad})
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    section = example.split("\n[kiosk]\n", 1)[1].split("\n[", 1)[0]
    for key in Config().kiosk.__struct_fields__:
        assert f"\n{key} = " in section, f"config.example.toml [kiosk] does not document {key}"


def test_parts_from_the_configuration(tmp_path: Path) -> None:
    config = config_from_dict({"device": {"data_dir": str(tmp_path)}, "kiosk": {"speech_enabled": False}})
    cache = Cache(tmp_path / "cache.db")
    cache.put(dossier(Status.ACCEPTED))
    lookup = LookupService(cache, source=None)  # type: ignore[arg-type]
    try:
        assert office_agency(config, cache) == AGENCY  # demo: no agency configured, the cached one's
        with_agency = msgspec.structs.replace(config.kiosk, agency_id="000.17.15.H56")
        assert office_agency(msgspec.structs.replace(config, kiosk=with_agency)) == "000.17.15.H56"
        parts = make_kiosk_parts(config, lookup, None)
        assert parts.agency_id == AGENCY and parts.office_name == "UBND huyện Duy Tiên"
        assert parts.printer is None and parts.forwarder is None and not parts.speaker.available()
        assert (tmp_path / "kiosk.db").exists()
        for close in parts.on_close:
            close()
    finally:
        lookup.close()
        cache.close()


def test_no_scanner_configured_or_a_missing_camera_keeps_going(tmp_path: Path) -> None:
    scans = BarcodeScans(Config())
    scans.start(lambda scan: None)
    assert scans.problems() == []
    scans.stop()
    barcode = msgspec.structs.replace(
        Config().barcode, serial_enabled=True, serial_port=str(tmp_path / "ttyACM9")
    )
    missing = BarcodeScans(msgspec.structs.replace(Config(), barcode=barcode))
    missing.start(lambda scan: None)
    try:
        for scanner in missing.scanners:
            scanner_thread_started = scanner.state in ("starting", "running", "unavailable")
            assert scanner_thread_started
    finally:
        missing.stop()


def test_screenshots_command_renders_every_screen_accessibly(tmp_path: Path) -> None:
    out = tmp_path / "shots"
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_HOME=str(tmp_path / "kivy"))
    cmd = [sys.executable, "-m", "appliance.cli", "--data-dir", str(tmp_path / "data"), "kiosk", "screenshots",
           "--out", str(out), "--size", "1280x800"]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    files = sorted(p.name for p in out.glob("*.png"))
    for lang in ("vi", "en"):
        for name in ("01-welcome", "02-keypad", "05-result-as-of-banner", "06-timeout-warning", "07-not-found",
                     "08-cannot-check", "09-rating", "10-statistics"):  # fmt: skip
            assert f"1280x800-{lang}-{name}.png" in files
        states = [f for f in files if f.startswith(f"1280x800-{lang}-04-result-")]
        assert len({f.split("-result-")[1][:2] for f in states}) == 10  # a result for each of the ten states
    assert all((out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in files)


def test_stack_without_a_display_writes_screenshots_from_its_own_data(
    window: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from appliance.kiosk_wiring import start_kiosk_in_stack

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    config = config_from_dict({"device": {"data_dir": str(tmp_path)}})
    cache = Cache(tmp_path / "cache.db")
    for status in Status:
        cache.put(dossier(status))
    lookup = LookupService(cache, source=None)  # type: ignore[arg-type]
    try:
        assert start_kiosk_in_stack(config, lookup, None, threading.Event()) == 0  # type: ignore[arg-type]
    finally:
        lookup.close()
        cache.close()
    shots = sorted((tmp_path / "screenshots").glob("*.png"))
    assert len([s for s in shots if "-vi-04-result-" in s.name]) == 10
    out = capsys.readouterr().out
    assert f"written to {tmp_path / 'screenshots'}" in out and "accessibility" not in out
