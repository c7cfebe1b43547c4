"""Decoder adapters and the pipeline on rendered symbols and on the generated receipt corpus."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from barcode.corpus import load_truth, make_sample
from barcode.decoders import Decoded, OpencvQrDecoder, ZbarDecoder, ZxingDecoder, bytes_to_text, render_symbol
from barcode.errors import DecodeError, ImageUnreadable
from barcode.events import CodeExtractor
from barcode.pipeline import DecodePipeline, load_image
from dossier.errors import InvalidInput

CODE = "000.00.15.H56-240315-0001"
URL = f"https://dichvucong.hanam.gov.vn/tra-cuu-ho-so/{CODE}"
VIETNAMESE = f"Giấy tiếp nhận hồ sơ và hẹn trả kết quả — Mã hồ sơ: {CODE}"


def on_page(
    symbol: np.ndarray, size: tuple[int, int] = (640, 480), at: tuple[int, int] = (100, 80)
) -> np.ndarray:
    """The symbol pasted on a light grey BGR frame."""
    frame = np.full((size[1], size[0]), 235, np.uint8)
    h, w = symbol.shape
    frame[at[1] : at[1] + h, at[0] : at[0] + w] = symbol
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize("decoder_cls", [ZxingDecoder, ZbarDecoder])
def test_qr_with_vietnamese_text_is_decoded_exactly(decoder_cls: type) -> None:
    gray = render_symbol(VIETNAMESE, "qr")
    [result] = decoder_cls(("qr",)).decode(gray)
    assert result.text == VIETNAMESE
    assert result.symbology == "qr" and not result.binary


@pytest.mark.parametrize(("eci", "text"), [(7, "Привет " + CODE), (3, "Mã: " + CODE), (26, VIETNAMESE)])
def test_eci_payloads_are_transcoded(eci: int, text: str) -> None:
    gray = render_symbol(text, "qr", eci=eci)
    [zx] = ZxingDecoder(("qr",)).decode(gray)
    [zb] = ZbarDecoder(("qr",)).decode(gray)
    assert zx.text == text and zb.text == text
    if eci == 7:  # the symbol really holds ISO-8859-5 bytes, not UTF-8
        assert zx.raw != text.encode("utf-8")


def test_binary_payload_is_marked_binary() -> None:
    gray = render_symbol(b"\xff\xfe\x00\x81 not text", "qr")
    [result] = ZxingDecoder(("qr",)).decode(gray)
    assert result.binary
    assert result.raw == b"\xff\xfe\x00\x81 not text"
    assert bytes_to_text(b"\xff\x00") == ("\xff\x00", True)
    assert bytes_to_text("Hồ sơ".encode()) == ("Hồ sơ", False)


def test_opencv_failure_is_translated_and_the_pipeline_survives_it() -> None:
    gray = render_symbol(f"Tiếp nhận {CODE}", "qr")  # OpenCV 5 raises "mode 14 not implemented" here
    with pytest.raises(DecodeError):
        OpencvQrDecoder().decode(gray)
    result = DecodePipeline(("qr",), ("opencv",)).decode(on_page(gray))
    assert result.results == ()
    assert result.errors and "opencv" in result.errors[0]


def test_only_configured_symbologies_are_reported() -> None:
    ean = render_symbol("8934567890120", "ean13", scale=3)
    dm = render_symbol(CODE, "datamatrix", scale=6)
    code128 = render_symbol(CODE, "code128", scale=2)
    default = DecodePipeline(("qr", "code128"), ("zxing", "zbar"))
    assert default.decode(on_page(ean)).results == ()
    assert default.decode(on_page(dm)).results == ()
    [c128] = default.decode(on_page(code128, at=(10, 80))).results
    assert (c128.symbology, c128.text) == ("code128", CODE)
    [found] = DecodePipeline(("qr", "datamatrix"), ("zxing",)).decode(on_page(dm)).results
    assert (found.symbology, found.text) == ("datamatrix", CODE)


def test_fallback_reads_a_small_blurred_code_the_primary_misses_and_maps_corners_back() -> None:
    small = cv2.resize(
        render_symbol(URL, "qr", scale=4), None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA
    )
    frame = cv2.GaussianBlur(on_page(small, at=(200, 100)), (0, 0), 0.6)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert ZxingDecoder().decode(gray) == []
    result = DecodePipeline(("qr", "code128"), ("zxing",), budget_ms=10_000).decode(frame)
    [found] = result.results
    assert found.text == URL and len(result.stages) > 1
    xs, ys = [p[0] for p in found.quad], [p[1] for p in found.quad]
    assert min(xs) >= 195 and max(xs) <= 205 + small.shape[1]
    assert min(ys) >= 95 and max(ys) <= 105 + small.shape[0]


def test_budget_limits_fallbacks_but_the_first_decode_always_runs() -> None:
    pipeline = DecodePipeline(("qr", "code128"), ("zxing", "zbar"), budget_ms=1e-6)
    blank = np.full((480, 640, 3), 200, np.uint8)
    assert pipeline.decode(blank).stages == ("zxing",)
    generous = DecodePipeline(("qr", "code128"), ("zxing", "zbar"), budget_ms=10_000, min_sign=0)
    assert generous.decode(blank).stages == generous.stage_names


def test_frames_of_every_layout_are_accepted_and_wrong_ones_rejected() -> None:
    bgr = on_page(render_symbol(URL, "qr"))
    pipeline = DecodePipeline()
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    roi_view = gray[50:400, 60:500]  # a non-contiguous view, as a camera ROI gives
    for frame in (bgr, gray, bgra, roi_view):
        assert [r.text for r in pipeline.decode(frame).results] == [URL]
    for bad in (np.zeros((0, 0), np.uint8), np.zeros((10, 10), np.float32), np.zeros((4, 4, 2), np.uint8)):
        with pytest.raises(InvalidInput):
            pipeline.decode(bad)


def test_shifted_maps_crop_and_scale_back() -> None:
    d = Decoded("x", "qr", ((10, 10), (30, 10), (30, 30), (10, 30)), "zxing")
    assert d.shifted(5, 7, scale=2.0).quad == ((10, 12), (20, 12), (20, 22), (10, 22))


def test_corpus_is_deterministic() -> None:
    assert make_sample(3, 34, seed=11) == make_sample(3, 34, seed=11)
    assert make_sample(3, 34, seed=11)[0] != make_sample(3, 34, seed=12)[0]


def test_generated_corpus_is_read_without_false_positives(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, truths = corpus
    assert load_truth(folder) == truths
    assert {t.kind for t in truths if t.split == "negative"} == {
        "blank", "ean13", "qr_foreign", "code128_other", "qr_bad_date"
    }  # fmt: skip
    pipeline = DecodePipeline()
    extractor = CodeExtractor()
    read = {"easy": 0, "hard": 0}
    for truth in truths:
        result = pipeline.decode(load_image(folder / truth.file), budget_ms=200)
        events = [extractor.event(r.text, source="image", binary=r.binary) for r in result.results]
        codes = {e.code.value for e in events if e.code}
        assert all(r.symbology in ("qr", "code128") for r in result.results)
        if truth.split == "negative":
            assert codes == set(), truth.file
            if truth.kind in ("qr_foreign", "qr_bad_date", "code128_other") and events:
                assert all(e.reason.startswith("not a dossier code: ") for e in events)
            if truth.kind == "qr_bad_date" and events:
                assert "not a date" in events[0].reason
            continue
        if truth.kind in ("qr_vietnamese", "qr_eci"):  # clean enough to demand the exact text
            assert [r.text for r in result.results] == [truth.payloads[0]["text"]], truth.file
        read[truth.split] += truth.expected_code in codes
    easy_total = sum(t.split == "easy" for t in truths)
    assert read["easy"] >= 0.9 * easy_total, read
    assert read["hard"] >= 1, read  # the hard half is hard, but not hopeless


def test_load_image_rejects_bad_files_with_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes.jpg").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    for name, words in (
        ("missing.jpg", "no such file"),
        ("notes.jpg", "not an image"),
        ("empty.png", "not an image"),
    ):
        with pytest.raises(ImageUnreadable) as err:
            load_image(tmp_path / name)
        assert words in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ImageUnreadable):
        load_image(tmp_path)


def test_corpus_truth_file_is_json_with_payloads(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, truths = corpus
    doc = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    assert doc["n"] == len(truths) == len(doc["images"])
    vietnamese = [t for t in truths if t.kind == "qr_vietnamese"]
    assert vietnamese and "hồ sơ" in vietnamese[0].payloads[0]["text"]
