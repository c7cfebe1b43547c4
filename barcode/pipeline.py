"""Frame → decoded symbols: the primary decoder first, then preprocessing fallbacks inside a time budget.

Chosen on the synthetic receipt corpus (``python bench/barcode_bench.py``): zxing-cpp on the grayscale
frame reads almost every easy photo in ~5 ms at 1280×720; on hard photos the largest gain comes from
upscaling (small printed modules), then sharpening, adaptive binarisation and, if configured, zbar as a
second opinion. Each fallback starts only when its measured cost still fits the per-frame budget.
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
from barcode.settings import BarcodeSection
from dossier.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 64_000_000


@dataclass(frozen=True)
class FrameResult:
    """What one frame gave: symbols read, time spent, stages tried and decoder failures."""

    results: tuple[Decoded, ...]
    elapsed_ms: float
    stages: tuple[str, ...]
    errors: tuple[str, ...] = ()


@dataclass
class _Stage:
    name: str
    prepare: Callable[[np.ndarray], tuple[np.ndarray, float]]  # gray -> (image, scale vs gray)
    decoder: Decoder
    cost_ms: dict[int, float] = field(default_factory=dict)  # EWMA per frame-size bucket


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
    """Decodes frames with the configured decoders and fallbacks; never raises for a decoder failure."""

    def __init__(
        self,
        symbologies: Sequence[str] = ("qr", "code128"),
        decoders: Sequence[str] = ("zxing",),
        *,
        budget_ms: float = 40.0,
        fallbacks: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        built = [build_decoder(name, symbologies) for name in decoders]
        self.symbologies = tuple(symbologies)
        self.budget_ms = budget_ms
        self._clock = clock
        primary = built[0]
        self._stages = [_Stage(primary.name, _identity, primary)]
        if fallbacks:  # order measured on the corpus: gains per stage, cheapest first
            self._stages += [
                _Stage(f"{primary.name}+upscale", _upscale, primary),
                _Stage(f"{primary.name}+sharpen", _sharpen, primary),
            ]
        self._stages += [_Stage(d.name, _identity, d) for d in built[1:]]
        if fallbacks:
            self._stages.append(_Stage(f"{primary.name}+binarise", _binarise, primary))
        self._failures_logged: set[str] = set()

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

    def decode(self, frame: np.ndarray, *, budget_ms: float | None = None) -> FrameResult:
        """Symbols in ``frame`` (gray or BGR); stops at the first stage that reads something."""
        start = self._clock()
        budget = self.budget_ms if budget_ms is None else budget_ms
        gray = to_gray(frame)
        bucket = gray.shape[0] * gray.shape[1] // 100_000
        tried: list[str] = []
        errors: list[str] = []
        for index, stage in enumerate(self._stages):
            elapsed = (self._clock() - start) * 1000
            if index > 0 and elapsed + stage.cost_ms.get(bucket, 0.0) > budget:
                continue
            t0 = self._clock()
            found = self._run(stage, gray, errors)
            cost = (self._clock() - t0) * 1000
            previous = stage.cost_ms.get(bucket)
            stage.cost_ms[bucket] = cost if previous is None else 0.8 * previous + 0.2 * cost
            tried.append(stage.name)
            if found:
                return FrameResult(tuple(found), (self._clock() - start) * 1000, tuple(tried), tuple(errors))
        return FrameResult((), (self._clock() - start) * 1000, tuple(tried), tuple(errors))

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


def load_image(path: str | Path) -> np.ndarray:
    """A BGR image from a file; raises ``ImageUnreadable`` with one clear line otherwise."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if not p.is_file():
            raise ImageUnreadable(f"{p}: not a file")
        if size > MAX_IMAGE_BYTES:
            raise ImageUnreadable(f"{p}: file too large for an image ({size} bytes)")
        data = np.fromfile(p, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageUnreadable(f"{p}: no such file") from None
    except PermissionError:
        raise ImageUnreadable(f"{p}: permission denied") from None
    except OSError as err:
        raise ImageUnreadable(f"{p}: cannot be read ({err.strerror or err})") from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error:
        image = None
    if image is None:
        raise ImageUnreadable(f"{p}: not an image OpenCV can read (JPEG, PNG, BMP, TIFF, WebP...)")
    return image
