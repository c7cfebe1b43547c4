"""The camera loop with a frame source at its seam: events, dedupe, ROI, skipping, a camera that vanishes."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from barcode.camera import CameraScanner, OpenCvCamera, ReplayFrameSource
from barcode.decoders import render_symbol
from barcode.errors import ScannerUnavailable
from barcode.events import ScanEvent
from barcode.pipeline import DecodePipeline, FrameResult
from barcode.settings import BarcodeSection
from dossier.errors import ConfigError
from tests.queues import drain
from tests.queues import wait_until as wait_for

CODE = "000.00.15.H56-240315-0001"
OTHER = "000.00.15.H56-240315-0002"


def frame_with(text: str | None, at: tuple[int, int] = (80, 60)) -> np.ndarray:
    """A 640×480 BGR frame, blank or with a QR code of ``text`` at ``at``."""
    frame = np.full((480, 640), 230, np.uint8)
    if text is not None:
        qr = render_symbol(f"https://dvc.x.vn/tra-cuu/{text}", "qr", scale=3)
        frame[at[1] : at[1] + qr.shape[0], at[0] : at[0] + qr.shape[1]] = qr
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def scanner_for(
    source: ReplayFrameSource, on_frame: Callable[[FrameResult], None] | None = None, **settings: object
) -> tuple[CameraScanner, queue.Queue[ScanEvent]]:
    s = BarcodeSection(**{"decode_fps": 30.0, "cpu_share": 1.0, **settings})  # type: ignore[arg-type]
    events: queue.Queue[ScanEvent] = queue.Queue()
    pipeline = DecodePipeline.from_settings(s)
    return CameraScanner(source, pipeline, events, settings=s, on_frame=on_frame), events


def test_same_code_in_view_is_reported_once_and_a_new_one_again() -> None:
    frames = [frame_with(CODE)] * 20 + [frame_with(None)] * 2 + [frame_with(OTHER)] * 20
    source = ReplayFrameSource(frames, fps=60, loop=False)
    scanner, events = scanner_for(source, dedupe_seconds=60.0)
    scanner.start()
    try:
        wait_for(lambda: scanner.stats.events >= 2 and source.grabbed >= len(frames))
    finally:
        assert scanner.stop()
    got = drain(events)
    assert [e.code.value for e in got if e.code] == [CODE, OTHER]
    assert all(e.source == "camera" and e.symbology == "qr" for e in got)
    assert scanner.stats.decoded > 2  # the code was seen many times, reported once


def test_code_outside_the_region_of_interest_is_ignored() -> None:
    frames = [frame_with(CODE, at=(40, 40)), frame_with(OTHER, at=(420, 300))]
    source = ReplayFrameSource(frames, fps=60)
    seen: list[tuple[str, tuple[tuple[int, int], ...]]] = []
    scanner, events = scanner_for(
        source, lambda r: seen.extend((d.text, d.quad) for d in r.results), camera_roi=(0.5, 0.5, 0.5, 0.5)
    )
    scanner.start()
    try:
        wait_for(lambda: scanner.stats.decoded >= 10)
    finally:
        assert scanner.stop()
    assert [e.code.value for e in drain(events) if e.code] == [OTHER]
    assert seen and all(CODE not in text for text, _ in seen)
    xs = [x for _, quad in seen for x, _ in quad]
    assert min(xs) >= 415  # corners reported in full-frame coordinates, not ROI ones


def test_frames_are_skipped_to_respect_the_decode_rate() -> None:
    source = ReplayFrameSource([frame_with(None)], fps=30)
    scanner, _ = scanner_for(source, decode_fps=3.0)
    scanner.start()
    try:
        wait_for(lambda: scanner.stats.frames >= 30)
    finally:
        assert scanner.stop()
    assert scanner.stats.skipped > 0
    assert scanner.stats.decoded < scanner.stats.frames


def test_camera_that_vanishes_is_unavailable_then_recovers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="barcode.camera")
    source = ReplayFrameSource([frame_with(CODE)], fps=30)
    scanner, events = scanner_for(source, camera_retry_max_s=0.2, dedupe_seconds=0.0)
    scanner.start()
    try:
        wait_for(lambda: scanner.stats.events >= 1)
        source.vanish()
        wait_for(lambda: scanner.state == "unavailable")
        time.sleep(1.0)  # several reopen attempts fail meanwhile
        assert scanner.state == "unavailable"
        source.reappear()
        wait_for(lambda: scanner.state == "running")
        before = scanner.stats.events
        wait_for(lambda: scanner.stats.events > before)
    finally:
        assert scanner.stop()
    assert scanner.state == "stopped"
    assert source.opened == 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    back = [r for r in caplog.records if "available again" in r.getMessage()]
    assert len(warnings) == 1 and len(back) == 1


def test_stop_returns_false_when_the_driver_blocks_and_true_once_it_returns() -> None:
    release = threading.Event()

    class StuckSource(ReplayFrameSource):
        def grab(self) -> bool:
            release.wait(10)
            return False

    scanner, _ = scanner_for(StuckSource([frame_with(None)]))
    scanner.start()
    time.sleep(0.1)
    assert scanner.stop(timeout=0.2) is False
    release.set()
    assert scanner.stop(timeout=10) is True


def test_real_camera_absent_raises_scanner_unavailable() -> None:
    camera = OpenCvCamera("/dev/video-does-not-exist", 640, 480, 15)
    with pytest.raises(ScannerUnavailable):
        camera.open()
    with pytest.raises(ScannerUnavailable):
        camera.grab()
    camera.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"camera_roi": (0.5, 0.5, 0.6, 0.2)},
        {"camera_roi": (0.1, 0.1)},
        {"symbologies": ("ean13",)},
        {"decoders": ("quagga",)},
        {"cpu_share": 0.0},
        {"serial_terminator": ";"},
        {"wedge_terminators": ("space",)},
    ],
)
def test_settings_are_validated(bad: dict[str, object]) -> None:
    from appliance.config import config_from_dict

    with pytest.raises(ConfigError) as info:
        config_from_dict({"barcode": {k: list(v) if isinstance(v, tuple) else v for k, v in bad.items()}})
    assert f"barcode.{next(iter(bad))}" in str(info.value)


def test_barcode_section_loads_from_config() -> None:
    from appliance.config import config_from_dict

    config = config_from_dict({"barcode": {"camera_roi": [0, 0.25, 1, 0.5], "camera_device": "/dev/video2"}})
    assert config.barcode.camera_roi == (0.0, 0.25, 1.0, 0.5)
    assert config.barcode.camera_source == "/dev/video2"
    assert BarcodeSection().camera_source == 0
    with pytest.raises(ConfigError):
        config_from_dict({"barcode": {"camera_roi": [2, 0, 1, 1]}})


def test_build_scanners_from_settings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from barcode.scanners import build_scanners
    from barcode.serial_scanner import SerialScanner

    events: queue.Queue[ScanEvent] = queue.Queue()
    assert build_scanners(BarcodeSection(), events) == []
    s = BarcodeSection(camera_enabled=True, serial_enabled=True, serial_port=str(tmp_path / "ttyX"))
    camera, serial = build_scanners(s, events, extra_patterns=[r"\d{5}/\d{4}/\d{5}"])
    assert isinstance(camera, CameraScanner) and isinstance(serial, SerialScanner)
    assert camera.state == serial.state == "stopped"


def test_camera_that_opens_but_gives_no_frames_stays_unavailable(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="barcode.camera")

    class BrokenSource(ReplayFrameSource):
        def grab(self) -> bool:
            raise ScannerUnavailable("camera stopped delivering frames")

    source = BrokenSource([frame_with(None)])
    scanner, _ = scanner_for(source, camera_retry_max_s=0.1)
    scanner.start()
    try:
        wait_for(lambda: source.opened >= 3)
        assert scanner.state == "unavailable"
    finally:
        assert scanner.stop()
    assert [r.levelno for r in caplog.records] == [logging.WARNING]  # once, not once per reopen


def codeless_frame(shift: int = 0) -> np.ndarray:
    """A frame with a symbol the pipeline is not configured for (EAN-13): a sign, but nothing to read."""
    frame = np.full((480, 640), 230, np.uint8)
    ean = render_symbol("8934567890120", "ean13", scale=2)
    frame[150 + shift : 150 + shift + ean.shape[0], 150 : 150 + ean.shape[1]] = ean
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


def run_frames(
    frames: list[np.ndarray], count: int, **kwargs: object
) -> tuple[CameraScanner, list[FrameResult]]:
    """Decode ``count`` frames of a looping replay; the results of each."""
    results: list[FrameResult] = []
    done = threading.Event()

    def seen(result: FrameResult) -> None:
        results.append(result)
        if len(results) >= count:
            done.set()

    s = BarcodeSection(decode_fps=30.0, cpu_share=1.0, frame_budget_ms=10_000.0)
    scanner = CameraScanner(
        ReplayFrameSource(frames, fps=60), DecodePipeline.from_settings(s), queue.Queue(), settings=s,
        on_frame=seen, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    scanner.start()
    try:
        assert done.wait(30), f"only {len(results)} frames decoded"
    finally:
        scanner.stop()
    return scanner, results[:count]


def test_a_still_scene_the_fallbacks_failed_on_costs_the_primary_decode_only() -> None:
    scanner, results = run_frames([codeless_frame()], 6, still_recheck_s=3600.0)
    assert results[0].sign is not None and len(results[0].stages) > 1  # a sign: fallbacks tried once
    assert all(r.stages == ("zxing",) for r in results[1:])  # the same still scene: not again
    assert scanner.stats.still_skips >= 5 and scanner.stats.warm_up_ms > 0


def test_a_moving_scene_gets_the_fallbacks_on_every_frame() -> None:
    frames = [codeless_frame(shift) for shift in (-80, -20, 40, 100, 160)]  # 5: no aliasing with skips
    _, results = run_frames(frames, 4, still_recheck_s=3600.0)
    assert all(len(r.stages) > 1 for r in results)
