"""The per-frame budget and the symbol sign: first frames of a new size, idle frames, no loss on hard ones.

Costs are made deterministic with fake decoders that advance a fake clock; nothing here is timed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

import barcode.pipeline as pipeline_module
from barcode.decoders import Decoded, render_symbol
from barcode.events import CodeExtractor
from barcode.pipeline import SIGN_MIN, DecodePipeline, load_image, symbol_sign

URL = "https://dichvucong.hanam.gov.vn/tra-cuu-ho-so/000.00.15.H56-240315-0001"


@dataclass
class FakeClock:
    """Milliseconds that pass only when a fake decoder works."""

    now_ms: float = 0.0

    def __call__(self) -> float:
        return self.now_ms / 1000


@dataclass
class FakeDecoder:
    """Finds nothing; costs ``ms_per_megapixel`` of fake time (``first_extra`` more on its first call)."""

    name: str
    clock: FakeClock
    ms_per_megapixel: float
    first_extra: float = 0.0
    symbologies: tuple[str, ...] = ("qr", "code128")
    calls: list[int] = field(default_factory=list)

    def decode(self, gray: np.ndarray) -> list[Decoded]:
        self.calls.append(gray.size)
        self.clock.now_ms += self.ms_per_megapixel * gray.size / 1e6 + (
            self.first_extra if len(self.calls) == 1 else 0
        )
        return []


def fake_pipeline(
    monkeypatch: pytest.MonkeyPatch, *, zbar_ms: float = 120.0, first_extra: float = 0.0, budget: float = 40.0
) -> tuple[DecodePipeline, dict[str, FakeDecoder]]:
    clock = FakeClock()
    made: dict[str, FakeDecoder] = {}

    def build(name: str, symbologies: object) -> FakeDecoder:
        cost = {"zxing": 10.0, "zbar": zbar_ms}[name]
        made[name] = FakeDecoder(name, clock, cost, first_extra)
        return made[name]

    monkeypatch.setattr(pipeline_module, "build_decoder", build)
    return DecodePipeline(
        ("qr", "code128"), ("zxing", "zbar"), budget_ms=budget, min_sign=0, clock=clock
    ), made


def test_the_first_frame_of_a_new_size_stays_inside_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, made = fake_pipeline(monkeypatch)
    frame = np.full((1000, 1000), 200, np.uint8)  # 1 MP: zxing 10 ms, zbar 120 ms of fake time
    first = pipeline.decode(frame)
    assert first.elapsed_ms <= 40.0, first.stages  # before: unknown costs counted as 0, everything ran
    assert "zbar" not in first.stages
    bigger = pipeline.decode(np.full((2000, 2000), 200, np.uint8))  # 4 MP: estimated from 1 MP
    assert bigger.stages == ("zxing",) and bigger.elapsed_ms <= 40.0 + 40.0  # the primary always runs


def test_a_stage_skipped_after_one_slow_run_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, made = fake_pipeline(monkeypatch, zbar_ms=5.0, budget=1000)
    frame = np.full((1000, 1000), 200, np.uint8)
    made["zbar"].first_extra = 5000.0  # its first call is slow (set-up, first allocations)
    assert "zbar" in pipeline.decode(frame).stages
    tight = [pipeline.decode(frame, budget_ms=100).stages for _ in range(200)]
    assert "zbar" not in tight[0]
    assert any("zbar" in stages for stages in tight)  # the estimate decayed and it was measured again


def test_warm_up_measures_every_stage_before_the_first_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, made = fake_pipeline(monkeypatch, first_extra=500.0)
    assert not pipeline.is_warm((720, 1280))
    pipeline.warm_up((720, 1280))
    assert pipeline.is_warm((720, 1280))
    assert all(len(d.calls) >= 2 for d in made.values())  # each stage ran twice; the first run is dropped
    result = pipeline.decode(np.full((720, 1280), 200, np.uint8))
    assert result.elapsed_ms <= 40.0 and "zbar" not in result.stages


def test_a_frame_without_a_sign_of_a_symbol_runs_the_primary_decode_only() -> None:
    pipeline = DecodePipeline(("qr", "code128"), ("zxing", "zbar"), budget_ms=10_000)
    empty = np.clip(np.random.default_rng(1).normal(120, 10, (720, 1280)), 0, 255).astype(np.uint8)
    for frame in (np.full((720, 1280), 90, np.uint8), cv2.GaussianBlur(empty, (0, 0), 2)):
        result = pipeline.decode(frame)
        assert result.stages == ("zxing",) and result.sign is not None and result.sign < SIGN_MIN


def test_a_small_blurred_code_shows_a_sign_and_is_read_by_a_fallback() -> None:
    small = cv2.resize(
        render_symbol(URL, "qr", scale=4), None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA
    )
    page = np.full((480, 640), 235, np.uint8)
    page[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    frame = cv2.GaussianBlur(page, (0, 0), 0.6)
    assert symbol_sign(frame) >= SIGN_MIN
    result = DecodePipeline(("qr", "code128"), ("zxing",), budget_ms=10_000).decode(frame)
    assert [r.text for r in result.results] == [URL] and len(result.stages) > 1


def test_the_sign_loses_nothing_on_the_corpus(corpus) -> None:  # type: ignore[no-untyped-def]
    """Every code the fallbacks read without the sign test is still read with it."""
    folder, truths = corpus
    gated = DecodePipeline(("qr", "code128"), ("zxing", "zbar"), budget_ms=10_000)
    always = DecodePipeline(("qr", "code128"), ("zxing", "zbar"), budget_ms=10_000, min_sign=0)
    extractor = CodeExtractor()

    def codes(p: DecodePipeline, image: np.ndarray) -> set[str]:
        found = (extractor.event(r.text, source="image") for r in p.decode(image).results)
        return {e.code.value for e in found if e.code}

    for truth in truths:
        if truth.split == "easy":
            continue
        image = load_image(folder / truth.file)
        assert codes(always, image) <= codes(gated, image), truth.file
