"""Frame → decoded symbols: the primary decoder first, then preprocessing fallbacks inside a time budget.

Chosen on the synthetic receipt corpus (``python bench/barcode_bench.py``): zxing-cpp on the grayscale
frame reads almost every easy photo in ~5 ms at 1280×720; on hard photos the largest gain comes from
upscaling (small printed modules), then sharpening, adaptive binarisation and, if configured, zbar as a
second opinion. The fallbacks run only on frames that show a sign of a symbol (an idle camera's frames
cost the primary decode alone), each only when its expected cost still fits the per-frame budget.
OpenCV is imported here for preprocessing and for reading image files (``load_image``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from barcode.decoders import Decoded, Decoder, build_decoder
from barcode.errors import DecodeError, ImageUnreadable
from barcode.image_header import HeaderError, image_size
from barcode.settings import BarcodeSection
from dossier.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 64_000_000
# symbol_sign below this: no fallbacks. Fallback-read hard photos score >= 0.70 on two corpora (seeds 4
# and 9, 400 images); empty scenes with sensor noise score < 0.3; printed text scores anywhere in 0.1-0.9.
SIGN_MIN = 0.5
SKIP_DECAY = 0.95  # a stage skipped for lack of budget expects to be 5% cheaper next time
_EDGE, _WINDOW = 40, 15  # symbol_sign: Sobel magnitude of a strong edge; window side in pixels
# Expected cost of each fallback relative to the primary decode on a frame never measured (textured
# 1280×720 frames: upscale ~1.8×, sharpen ~3.6×, binarise ~6×, zbar ~12×; rounded up).
_PRIORS = {"upscale": 2.5, "sharpen": 4.0, "binarise": 6.5, "zbar": 13.0, "opencv": 10.0}
MAX_IMAGE_PIXELS = 40_000_000  # default of barcode.max_image_pixels
DECODE_MAX_PIXELS = 12_000_000  # larger images are decoded scaled down (printed modules stay readable)
_REDUCED = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


@dataclass(frozen=True)
class FrameResult:
    """What one frame gave: symbols read, time spent, stages tried, decoder failures and the symbol sign."""

    results: tuple[Decoded, ...]
    elapsed_ms: float
    stages: tuple[str, ...]
    errors: tuple[str, ...] = ()
    sign: float | None = None  # symbol sign measured before the fallbacks (None: not needed)


@dataclass
class _Stage:
    name: str
    prepare: Callable[[np.ndarray], tuple[np.ndarray, float]]  # gray -> (image, scale vs gray)
    decoder: Decoder
    prior: float  # expected cost relative to the primary decode, before any measurement
    cost_ms: dict[int, float] = field(default_factory=dict)  # EWMA per frame-size bucket

    def estimate(self, bucket: int, primary_ms: float) -> float:
        """Expected milliseconds at ``bucket``: measured, else scaled from another size, else the prior."""
        if bucket in self.cost_ms:
            return self.cost_ms[bucket]
        if self.cost_ms:
            near = min(self.cost_ms, key=lambda b: abs(b - bucket))
            return self.cost_ms[near] * (bucket + 1) / (near + 1)
        return primary_ms * self.prior

    def record(self, bucket: int, ms: float) -> None:
        """Fold one measured cost into the estimate."""
        previous = self.cost_ms.get(bucket)
        self.cost_ms[bucket] = ms if previous is None else 0.8 * previous + 0.2 * ms

    def skipped(self, bucket: int) -> None:
        """Skipped for lack of budget: let the estimate decay so that one slow run is not final."""
        if bucket in self.cost_ms:
            self.cost_ms[bucket] *= SKIP_DECAY


def to_gray(frame: np.ndarray) -> np.ndarray:
    """A contiguous 2-D uint8 image from a gray, BGR or BGRA frame; raises ``InvalidInput`` otherwise."""
    if not isinstance(frame, np.ndarray) or frame.size == 0 or frame.dtype != np.uint8:
        raise InvalidInput("a frame must be a non-empty uint8 image array")
    if frame.ndim == 2:
        return np.ascontiguousarray(frame)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return np.ascontiguousarray(frame[:, :, 0])
    raise InvalidInput(f"a frame must be gray, BGR or BGRA, not shape {frame.shape}")


def scene_thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 64×36 gray thumbnail: sensor noise averages out, a moved receipt does not."""
    return cv2.resize(to_gray(frame), (64, 36), interpolation=cv2.INTER_AREA).astype(np.int16)


def scene_changed(a: np.ndarray, b: np.ndarray, *, threshold: float = 4.0) -> bool:
    """Whether two thumbnails differ by more than ``threshold`` grey levels on average."""
    return a.shape != b.shape or float(np.abs(a - b).mean()) > threshold


def symbol_sign(gray: np.ndarray) -> float:
    """0..1: how much some part of the frame looks like a barcode (dense strong edges), in ~1 ms.

    On a frame at most 640 pixels wide: the densest 15×15 window of strong edges in both directions
    (QR, rotated codes) or in mostly one direction (bars). Walls and empty counters stay below
    ``SIGN_MIN``; symbols the fallbacks can read score above it. Dense print may score high too: that
    only costs time (the camera scanner also skips fallbacks on a still scene they already failed on).
    """
    h, w = gray.shape
    small = cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_AREA) if w > 800 else gray
    ax = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3))
    ay = cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3))
    dx = cv2.blur(cv2.threshold(ax, _EDGE, 255, cv2.THRESH_BINARY)[1], (_WINDOW, _WINDOW))
    dy = cv2.blur(cv2.threshold(ay, _EDGE, 255, cv2.THRESH_BINARY)[1], (_WINDOW, _WINDOW))
    both = int(cv2.min(dx, dy).max())
    bars = int(cv2.absdiff(dx, dy).max())
    return max(both, bars) / 255.0


def _identity(gray: np.ndarray) -> tuple[np.ndarray, float]:
    return gray, 1.0


def _upscale(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Small printed modules: 2× for small frames, 1.5× above 800 px wide (cost grows with area)."""
    factor = 2.0 if gray.shape[1] <= 800 else 1.5
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR), factor


def _sharpen(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Unsharp mask against mild blur."""
    blurred = cv2.GaussianBlur(gray, (0, 0), 2.0)
    return cv2.addWeighted(gray, 1.8, blurred, -0.8, 0), 1.0


def _binarise(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """Local mean threshold against uneven light and glare."""
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 5), 1.0


class DecodePipeline:
    """Decodes frames with the configured decoders and fallbacks; never raises for a decoder failure.

    The primary decode always runs. The fallbacks run only when it found nothing, the frame shows a sign
    of a symbol (``symbol_sign`` >= ``min_sign``; 0 turns the test off) and their expected cost still
    fits the budget. Expected costs are measured per frame size; a size never seen is estimated from
    other sizes or from priors relative to the primary decode, never taken as free. ``warm_up`` pays
    one-time costs (first allocations, library set-up) and measures a size before real frames come.
    """

    def __init__(
        self,
        symbologies: Sequence[str] = ("qr", "code128"),
        decoders: Sequence[str] = ("zxing",),
        *,
        budget_ms: float = 40.0,
        fallbacks: bool = True,
        min_sign: float | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        built = [build_decoder(name, symbologies) for name in decoders]
        self.symbologies = tuple(symbologies)
        self.budget_ms = budget_ms
        self.min_sign = SIGN_MIN if min_sign is None else min_sign
        self._clock = clock
        primary = built[0]
        self._stages = [_Stage(primary.name, _identity, primary, 1.0)]
        if fallbacks:  # order measured on the corpus: gains per stage, cheapest first
            self._stages += [
                _Stage(f"{primary.name}+upscale", _upscale, primary, _PRIORS["upscale"]),
                _Stage(f"{primary.name}+sharpen", _sharpen, primary, _PRIORS["sharpen"]),
            ]
        self._stages += [_Stage(d.name, _identity, d, _PRIORS.get(d.name, 12.0)) for d in built[1:]]
        if fallbacks:
            self._stages.append(_Stage(f"{primary.name}+binarise", _binarise, primary, _PRIORS["binarise"]))
        self._failures_logged: set[str] = set()
        self._warm: set[tuple[int, int]] = set()

    @classmethod
    def from_settings(cls, settings: BarcodeSection) -> DecodePipeline:
        """A pipeline configured by the ``[barcode]`` section."""
        return cls(
            settings.symbologies,
            settings.decoders,
            budget_ms=settings.frame_budget_ms,
            fallbacks=settings.fallbacks,
        )

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The stages in the order they are tried."""
        return tuple(s.name for s in self._stages)

    def is_warm(self, shape: tuple[int, ...]) -> bool:
        """Whether frames of this (height, width) were warmed up."""
        return (int(shape[0]), int(shape[1])) in self._warm

    def warm_up(self, shape: tuple[int, ...]) -> float:
        """Run every stage twice on a textured frame of ``shape`` and keep the second timings as costs.

        The first run of a size pays for allocations and library set-up (5-10× a normal run on large
        frames); without this the first real frame of a size overran its budget. Returns milliseconds.
        """
        started = self._clock()
        height, width = int(shape[0]), int(shape[1])
        rng = np.random.default_rng(0)
        texture = cv2.GaussianBlur(rng.integers(0, 256, (height, width), dtype=np.uint8), (0, 0), 1.0)
        bucket = height * width // 100_000
        errors: list[str] = []
        for stage in self._stages:
            for attempt in range(2):
                t0 = self._clock()
                self._run(stage, texture, errors)
                if attempt:
                    stage.cost_ms[bucket] = (self._clock() - t0) * 1000
        self._warm.add((height, width))
        return (self._clock() - started) * 1000

    def decode(
        self, frame: np.ndarray, *, budget_ms: float | None = None, fallbacks: bool = True
    ) -> FrameResult:
        """Symbols in ``frame`` (gray or BGR); stops at the first stage that reads something."""
        start = self._clock()
        budget = self.budget_ms if budget_ms is None else budget_ms
        gray = to_gray(frame)
        bucket = gray.shape[0] * gray.shape[1] // 100_000
        tried: list[str] = []
        errors: list[str] = []
        sign: float | None = None
        primary_ms = 0.0
        for index, stage in enumerate(self._stages):
            if index > 0:
                if not fallbacks:
                    break
                if sign is None:
                    sign = symbol_sign(gray) if self.min_sign > 0 else 1.0
                    if sign < self.min_sign:
                        break
                elapsed = (self._clock() - start) * 1000
                if elapsed + stage.estimate(bucket, primary_ms) > budget:
                    stage.skipped(bucket)
                    continue
            t0 = self._clock()
            found = self._run(stage, gray, errors)
            cost = (self._clock() - t0) * 1000
            if index == 0:
                primary_ms = cost
            stage.record(bucket, cost)
            tried.append(stage.name)
            if found:
                return FrameResult(
                    tuple(found), (self._clock() - start) * 1000, tuple(tried), tuple(errors), sign
                )
        return FrameResult((), (self._clock() - start) * 1000, tuple(tried), tuple(errors), sign)

    def _run(self, stage: _Stage, gray: np.ndarray, errors: list[str]) -> list[Decoded]:
        image, scale = stage.prepare(gray)
        try:
            found = stage.decoder.decode(image)
        except DecodeError as err:
            errors.append(str(err))
            if stage.name not in self._failures_logged:  # once per stage, then DEBUG
                self._failures_logged.add(stage.name)
                log.warning("%s (further failures of this stage logged at DEBUG)", err)
            else:
                log.debug("%s", err)
            return []
        unique: dict[tuple[str, str], Decoded] = {}
        for item in found:
            unique.setdefault(
                (item.symbology, item.text), item if scale == 1.0 else item.shifted(0, 0, scale)
            )
        return list(unique.values())


def load_image(path: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """A BGR image from a file (scaled down if large); raises ``ImageUnreadable`` with one clear line."""
    return load_image_scaled(path, max_pixels=max_pixels)[0]


def load_image_scaled(path: str | Path, *, max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[np.ndarray, float]:
    """(BGR image, its scale against the file's pixels) from a file; raises ``ImageUnreadable``.

    The pixel count is read from the file's header first: more than ``max_pixels`` is refused before
    anything is decoded; more than ``DECODE_MAX_PIXELS`` is decoded at 1/2, 1/4 or 1/8 scale (JPEG
    decodes straight to the smaller size).
    """
    p = Path(path)
    try:
        if not p.is_file():
            raise ImageUnreadable(f"{p}: not a file" if p.exists() else f"{p}: no such file")
        size = p.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise ImageUnreadable(f"{p}: file too large for an image ({size} bytes)")
        data = p.read_bytes()
    except PermissionError:
        raise ImageUnreadable(f"{p}: permission denied") from None
    except OSError as err:
        raise ImageUnreadable(f"{p}: cannot be read ({err.strerror or err})") from None
    try:
        kind, width, height = image_size(data)
    except HeaderError as err:
        raise ImageUnreadable(f"{p}: not an image motcua reads ({err})") from None
    pixels = width * height
    if not pixels:
        raise ImageUnreadable(f"{p}: the {kind} header declares an empty image")
    if pixels > max_pixels:
        raise ImageUnreadable(
            f"{p}: {width}×{height} pixels is more than barcode.max_image_pixels ({max_pixels}); not decoded"
        )
    factor = 1
    while pixels > DECODE_MAX_PIXELS * factor * factor and factor < 8:
        factor *= 2
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _REDUCED[factor])
    except cv2.error:
        image = None
    if image is None:
        raise ImageUnreadable(f"{p}: not an image OpenCV can read (JPEG, PNG, BMP, TIFF, WebP...)")
    scale = image.shape[1] / width
    if image.shape[0] * image.shape[1] > DECODE_MAX_PIXELS:  # beyond 1/8 scale: resize the rest
        shrink = (DECODE_MAX_PIXELS / (image.shape[0] * image.shape[1])) ** 0.5
        image = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        scale = image.shape[1] / width
    if factor > 1:
        log.debug("%s image %dx%d decoded at scale %.3f", kind, width, height, scale)
    return image, scale
