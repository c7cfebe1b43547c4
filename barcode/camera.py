"""Camera scanner: one owner thread reads frames, decodes some of them inside a CPU budget, emits events.

The frame source is a port (``FrameSource``) given to the constructor: ``OpenCvCamera`` for a real V4L2
camera (the only place OpenCV capture is used), ``ReplayFrameSource`` for tests and benchmarks. A camera
that vanishes makes the scanner "unavailable" (logged once), reopened with backoff (logged once when
back). The same code seen again within ``dedupe_seconds`` of its last sighting is not reported again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from barcode.errors import ScannerUnavailable
from barcode.events import CodeExtractor, ScanEvent
from barcode.owner_thread import OwnedDevice
from barcode.pipeline import DecodePipeline, FrameResult, scene_changed, scene_thumbnail
from barcode.settings import BarcodeSection

log = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Where frames come from; ``grab``/``retrieve`` raise ``ScannerUnavailable`` when the device is gone."""

    def open(self) -> None:
        """Open the device; raises ``ScannerUnavailable``."""
        ...

    def grab(self) -> bool:
        """Wait for the next frame and take it without converting it; False when none came in time."""
        ...

    def retrieve(self) -> np.ndarray | None:
        """The grabbed frame as an image (BGR or gray), or None if it cannot be converted."""
        ...

    def close(self) -> None:
        """Release the device; safe to call twice."""
        ...


class OpenCvCamera:
    """A V4L2 camera through OpenCV's VideoCapture."""

    FAILURES_BEFORE_GONE = 3

    def __init__(
        self, device: int | str, width: int, height: int, fps: int, *, read_timeout_s: float = 2.0
    ) -> None:
        self._device = device
        self._size = (width, height)
        self._fps = fps
        self._timeout_ms = int(read_timeout_s * 1000)
        self._cap: object | None = None
        self._failures = 0

    @classmethod
    def from_settings(cls, s: BarcodeSection) -> OpenCvCamera:
        """The camera named by the ``[barcode]`` section."""
        return cls(
            s.camera_source,
            s.camera_width,
            s.camera_height,
            s.camera_fps,
            read_timeout_s=s.camera_read_timeout_s,
        )

    def open(self) -> None:
        """Open and configure the camera; raises ``ScannerUnavailable``."""
        import cv2  # capture lives here only

        # errors only: we log unavailability once ourselves
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self.close()
        try:
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                self._timeout_ms,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                self._timeout_ms,
            ]
            cap = cv2.VideoCapture(self._device, cv2.CAP_V4L2, params)
            if not cap.isOpened():
                cap.release()
                raise ScannerUnavailable(f"camera {self._device} cannot be opened", hint="is it plugged in?")
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
            cap.set(cv2.CAP_PROP_FPS, self._fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        except cv2.error as err:
            raise ScannerUnavailable(f"camera {self._device} cannot be opened ({err})") from None
        self._cap = cap
        self._failures = 0

    def _check(self, ok: bool) -> bool:
        if ok:
            self._failures = 0
            return True
        self._failures += 1
        if self._failures >= self.FAILURES_BEFORE_GONE:
            raise ScannerUnavailable(f"camera {self._device} stopped delivering frames")
        return False

    def grab(self) -> bool:
        """Grab the next frame (blocks up to the read timeout); raises after repeated failures."""
        import cv2

        if self._cap is None:
            raise ScannerUnavailable(f"camera {self._device} is not open")
        try:
            ok = self._cap.grab()  # type: ignore[attr-defined]
        except cv2.error as err:
            raise ScannerUnavailable(f"camera {self._device} failed ({err})") from None
        return self._check(bool(ok))

    def retrieve(self) -> np.ndarray | None:
        """Convert the grabbed frame."""
        import cv2

        if self._cap is None:
            raise ScannerUnavailable(f"camera {self._device} is not open")
        try:
            ok, frame = self._cap.retrieve()  # type: ignore[attr-defined]
        except cv2.error as err:
            raise ScannerUnavailable(f"camera {self._device} failed ({err})") from None
        return frame if ok else None

    def close(self) -> None:
        """Release the camera."""
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()  # type: ignore[attr-defined]


class ReplayFrameSource:
    """Frames from memory at a fixed rate (tests, benchmarks); ``vanish()``/``reappear()`` simulate unplugging."""

    def __init__(self, frames: Sequence[np.ndarray], fps: float = 15.0, *, loop: bool = True) -> None:
        self._frames = list(frames)
        self._interval = 1.0 / fps
        self._loop = loop
        self._index = 0
        self._next_at = 0.0
        self._present = threading.Event()
        self._present.set()
        self.opened = 0
        self.grabbed = 0

    def vanish(self) -> None:
        """Make the device disappear (reads raise, opens fail)."""
        self._present.clear()

    def reappear(self) -> None:
        """Plug the device back in."""
        self._present.set()

    def open(self) -> None:
        """Open (fails while vanished)."""
        if not self._present.is_set():
            raise ScannerUnavailable("replay camera is unplugged")
        self.opened += 1
        self._next_at = time.monotonic()

    def grab(self) -> bool:
        """Wait for the next frame at the replay rate."""
        if not self._present.is_set():
            raise ScannerUnavailable("replay camera vanished")
        if not self._loop and self._index >= len(self._frames):
            time.sleep(min(self._interval, 0.05))
            return False
        delay = self._next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next_at = max(self._next_at + self._interval, time.monotonic() - self._interval)
        self._index += 1
        self.grabbed += 1
        return True

    def retrieve(self) -> np.ndarray | None:
        """The grabbed frame."""
        if not self._present.is_set():
            raise ScannerUnavailable("replay camera vanished")
        return self._frames[(self._index - 1) % len(self._frames)]

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class CameraStats:
    """Counters for the technician and the benchmark."""

    frames: int = 0
    decoded: int = 0
    skipped: int = 0
    decode_ms: float = 0.0
    events: int = 0
    dropped: int = 0
    warm_up_ms: float = 0.0  # spent measuring a new frame size before its first decode
    still_skips: int = 0  # frames whose fallbacks were skipped: the same still scene they failed on


class CameraScanner(OwnedDevice):
    """Owns a frame source on its own thread; decoded codes go onto ``events`` as ``ScanEvent``s."""

    def __init__(
        self,
        source: FrameSource,
        pipeline: DecodePipeline,
        events: queue.Queue[ScanEvent],
        *,
        settings: BarcodeSection | None = None,
        extractor: CodeExtractor | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_frame: Callable[[FrameResult], None] | None = None,
        still_recheck_s: float = 1.0,
    ) -> None:
        self._source = source
        self._still_recheck_s = still_recheck_s
        self._failed_scene: np.ndarray | None = None  # thumbnail of the last frame the fallbacks failed on
        self._failed_at = 0.0
        self._pipeline = pipeline
        self._events = events
        self._s = settings or BarcodeSection()
        self._extractor = extractor or CodeExtractor()
        self._clock = clock
        self._on_frame = on_frame
        super().__init__("camera", "camera-scanner")
        self._seen: dict[str, float] = {}
        self.stats = CameraStats()

    def _run(self) -> None:
        backoff = 0.5
        opened = False
        next_decode_at = 0.0
        try:
            while not self._stop.is_set():
                if not opened:
                    try:
                        self._source.open()
                    except ScannerUnavailable as err:
                        self._set_state("unavailable", str(err))
                        self._stop.wait(backoff)
                        backoff = min(backoff * 2, max(self._s.camera_retry_max_s, 0.1))
                        continue
                    opened = True
                try:
                    if not self._source.grab():
                        continue
                    if self._state != "running":  # running once frames flow, not merely once opened
                        self._set_state("running")
                        backoff = 0.5
                    self.stats.frames += 1
                    if self._clock() < next_decode_at:  # frame skipping keeps decoding inside the CPU budget
                        self.stats.skipped += 1
                        continue
                    frame = self._source.retrieve()
                except ScannerUnavailable as err:
                    self._source.close()
                    opened = False
                    self._set_state("unavailable", str(err))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, max(self._s.camera_retry_max_s, 0.1))
                    continue
                if frame is None:
                    continue
                started = self._clock()
                result = self._decode(frame)
                spent = max(self._clock() - started, result.elapsed_ms / 1000)
                next_decode_at = started + max(1.0 / self._s.decode_fps, spent / self._s.cpu_share)
        finally:
            self._source.close()
            self._state = "stopped"

    def _decode_scene(self, frame: np.ndarray) -> FrameResult:
        """Decode; on a still scene the fallbacks already failed on, the primary decode only (recheck ~1/s)."""
        thumb = scene_thumbnail(frame)
        now = self._clock()
        still = (
            self._failed_scene is not None
            and not scene_changed(thumb, self._failed_scene)
            and now - self._failed_at < self._still_recheck_s
        )
        result = self._pipeline.decode(frame, fallbacks=not still)
        if still:
            self.stats.still_skips += 1
        elif result.results:
            self._failed_scene = None
        elif len(result.stages) > 1:
            self._failed_scene, self._failed_at = thumb, now
        return result

    def _decode(self, frame: np.ndarray) -> FrameResult:
        dx, dy = 0, 0
        roi = self._s.camera_roi
        if roi:
            h, w = frame.shape[:2]
            dx, dy = int(roi[0] * w), int(roi[1] * h)
            frame = frame[dy : dy + max(int(roi[3] * h), 1), dx : dx + max(int(roi[2] * w), 1)]
        if not self._pipeline.is_warm(frame.shape):  # a new size: measured before its first frame
            self.stats.warm_up_ms += self._pipeline.warm_up(frame.shape)
        result = self._decode_scene(frame)
        self.stats.decoded += 1
        self.stats.decode_ms += result.elapsed_ms
        if roi and result.results:
            result = FrameResult(
                tuple(r.shifted(dx, dy) for r in result.results),
                result.elapsed_ms,
                result.stages,
                result.errors,
                result.sign,
            )
        if self._on_frame is not None:
            self._on_frame(result)
        now = self._clock()
        for decoded in result.results:
            event = self._extractor.event(
                decoded.text, source="camera", symbology=decoded.symbology, binary=decoded.binary
            )
            last = self._seen.get(event.key)
            self._seen[event.key] = now
            if last is not None and now - last <= self._s.dedupe_seconds:
                continue
            try:
                self._events.put_nowait(event)
                self.stats.events += 1
            except queue.Full:
                self.stats.dropped += 1
                log.warning("scan event queue full; dropped a camera scan")
        if len(self._seen) > 256:
            horizon = now - self._s.dedupe_seconds
            self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
        return result
