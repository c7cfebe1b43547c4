# mypy: disable-error-code="assignment,return-value"
"""Synthetic receipt photos with ground truth, for tests and benchmarks (deterministic for a seed).

A receipt page ("GIAY TIEP NHAN HO SO VA HEN TRA KET QUA"; OpenCV's fonts have no Vietnamese diacritics)
carries the dossier code as a QR code holding a URL and/or a Code128 at receipt print sizes. The page is
"photographed": perspective, rotation, folds and crumples, uneven and low light, glare, blur, noise,
JPEG. The easy half is close and mild, the hard half small and rough; negatives have no code, a code of
another kind (EAN-13, a QR with a foreign URL, a Code128 with another number) or an impossible date.
Run ``python -m barcode.corpus OUTDIR -n 200`` to write JPEG files plus ``truth.json``.

OpenCV is imported here to draw and degrade images (a development tool, not used by the appliance).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from barcode.decoders import render_symbol

PAGE_W, PAGE_H = 1240, 1754  # A4 at 150 dpi
FRAME_SIZES = ((1280, 720), (640, 480))
TITLE = "GIAY TIEP NHAN HO SO VA HEN TRA KET QUA"
VIETNAMESE_TEXT = "Giấy tiếp nhận hồ sơ và hẹn trả kết quả — Mã hồ sơ: {code}"
_HOSTS = (
    "dichvucong.hanam.gov.vn",
    "motcua.tayninh.gov.vn",
    "dvc.tiengiang.gov.vn",
    "dichvucong.bentre.gov.vn",
)
_NAMES = ("NGUYEN VAN AN", "TRAN THI BICH", "LE HOANG NAM", "PHAM THI LAN", "VO MINH DUC")
_PROCS = ("Cap giay phep xay dung", "Dang ky ho kinh doanh", "Cap ban sao trich luc ho tich", "Chung thuc")


@dataclass
class Truth:
    """Ground truth of one image: what is on it and which dossier code a reader should find."""

    file: str
    split: str  # easy | hard | negative
    kind: str
    width: int
    height: int
    expected_code: str | None
    payloads: list[dict[str, str]] = field(default_factory=list)  # [{symbology, text}]
    degradations: list[str] = field(default_factory=list)


def random_code(rng: np.random.Generator, *, bad_date: bool = False) -> str:
    """A national-format dossier code (``000.00.15.H56-240315-0001``); optionally with an impossible date."""
    agency = f"000.{rng.integers(0, 100):02d}.{rng.integers(1, 100):02d}.H{rng.integers(1, 99):02d}"
    yy, mm, dd = int(rng.integers(18, 27)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    if bad_date:
        mm, dd = int(rng.integers(13, 20)), int(rng.integers(32, 40))
    return f"{agency}-{yy:02d}{mm:02d}{dd:02d}-{rng.integers(1, 10000):04d}"


def receipt_url(rng: np.random.Generator, code: str) -> str:
    """A lookup URL ending in (or carrying) the code, as provincial receipts print them."""
    host = _HOSTS[int(rng.integers(len(_HOSTS)))]
    style = int(rng.integers(3))
    if style == 0:
        return f"https://{host}/tra-cuu-ho-so/{code}"
    if style == 1:
        return f"https://{host}/tra-cuu?mahoso={code}"
    return f"http://{host}/TraCuuHoSo.aspx?ma={code}&lang=vi"


def _put(page: np.ndarray, text: str, x: int, y: int, scale: float = 0.9, thick: int = 2) -> None:
    cv2.putText(page, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 30, thick, cv2.LINE_AA)


def _paste(page: np.ndarray, symbol: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    h, w = symbol.shape
    page[y : y + h, x : x + w] = np.minimum(page[y : y + h, x : x + w], symbol)
    return x, y, w, h


def render_page(
    rng: np.random.Generator, code: str, symbols: list[tuple[str, str | bytes, int | None]]
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A grayscale receipt page and the boxes of its symbols; ``symbols`` = [(symbology, content, eci)]."""
    page = np.full((PAGE_H, PAGE_W), 250, np.uint8)
    _put(page, "CONG HOA XA HOI CHU NGHIA VIET NAM", 330, 90, 0.9, 2)
    _put(page, "Doc lap - Tu do - Hanh phuc", 450, 130, 0.8, 2)
    _put(page, "UBND HUYEN / XA ...  BO PHAN MOT CUA", 80, 200, 0.75, 2)
    _put(page, TITLE, 170, 330, 1.1, 3)
    boxes: list[tuple[int, int, int, int]] = []
    for symbology, content, eci in symbols:
        if symbology == "qr":
            img = render_symbol(content, "qr", scale=4, eci=eci)
            boxes.append(_paste(page, img, PAGE_W - img.shape[1] - 70, 150 + int(rng.integers(0, 40))))
        else:
            img = render_symbol(content, symbology, scale=2)
            if img.shape[0] > 110:  # keep bar height ~ 1 cm
                img = img[(img.shape[0] - 110) // 2 : (img.shape[0] + 110) // 2]
            boxes.append(_paste(page, img, 120 + int(rng.integers(0, 60)), 380))
    lines = [
        f"Ma ho so: {code}",
        f"Ong/Ba: {_NAMES[int(rng.integers(len(_NAMES)))]}",
        f"Thu tuc: {_PROCS[int(rng.integers(len(_PROCS)))]}",
        "So dien thoai: 09xx xxx xxx",
        "Giay to nop kem: 1. Don de nghi (ban chinh)  2. CCCD (ban sao)",
        f"Ngay hen tra ket qua: {rng.integers(1, 29):02d}/{rng.integers(1, 13):02d}/2024 luc 14 gio 00",
        "Khi den nhan ket qua, mang theo giay tiep nhan nay.",
        "Tra cuu tinh trang ho so: quet ma QR hoac nhan tin den tong dai.",
    ]
    y = 560
    for line in lines:
        _put(page, line, 110, y, 0.85, 2)
        y += 62
    for _ in range(int(rng.integers(4, 9))):
        _put(page, "." * int(rng.integers(40, 90)), 110, y, 0.85, 1)
        y += 55
    _put(page, "NGUOI TIEP NHAN", 820, min(y + 60, PAGE_H - 120), 0.85, 2)
    return page, boxes


def _fold(rng: np.random.Generator, page: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """A fold line near the code: shading step, a crease, a small displacement of one side."""
    h, w = page.shape
    bx, by, bw, bh = box
    cx, cy = bx + bw * rng.uniform(0.2, 0.8), by + bh * rng.uniform(0.2, 0.8)
    angle = rng.uniform(0, np.pi)
    nx, ny = np.cos(angle), np.sin(angle)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = (xx - cx) * nx + (yy - cy) * ny
    side = dist > 0
    shift = rng.uniform(0.5, 2.5)
    map_x = xx + np.where(side, shift * ny, 0).astype(np.float32)
    map_y = yy - np.where(side, shift * nx, 0).astype(np.float32)
    out = cv2.remap(page, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    out *= np.where(side, rng.uniform(0.78, 0.95), 1.0).astype(np.float32)
    out -= 60 * np.exp(-((dist / 2.0) ** 2))
    return np.clip(out, 0, 255).astype(np.uint8)


def _crumple(rng: np.random.Generator, page: np.ndarray) -> np.ndarray:
    """Smooth random displacement with matching shading, like crumpled paper."""
    h, w = page.shape
    amp = rng.uniform(2.0, 6.0)
    field_x = cv2.resize(rng.normal(0, 1, (6, 5)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    field_y = cv2.resize(rng.normal(0, 1, (6, 5)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = cv2.remap(
        page, xx + amp * field_x, yy + amp * field_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    shade = 1.0 + 0.08 * np.gradient(field_x, axis=1) * w / 6
    return np.clip(out.astype(np.float32) * shade, 0, 255).astype(np.uint8)


def _photograph(
    rng: np.random.Generator,
    page: np.ndarray,
    box: tuple[int, int, int, int],
    module_px: float,
    frame: tuple[int, int],
    hard: bool,
    page_module: float,
) -> tuple[np.ndarray, float]:
    """Place the page in a camera frame so that one module of the code is ``module_px`` frame pixels."""
    fw, fh = frame
    scale = module_px / page_module
    bx, by, bw, bh = box
    c = np.array([bx + bw / 2, by + bh / 2])
    wide = bw > 2 * bh  # a linear code: people hold those roughly level
    if hard and rng.random() < 0.6:
        angle = np.deg2rad(rng.uniform(-25, 25) if wide else rng.uniform(-180, 180))
    else:
        angle = np.deg2rad(rng.uniform(-8, 8))
    cos, sin = abs(np.cos(angle)), abs(np.sin(angle))
    scale = min(scale, 0.92 * fw / (bw * cos + bh * sin), 0.92 * fh / (bw * sin + bh * cos))  # must fit
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for _ in range(20):
        half_extent = scale * np.hypot(bw, bh) / 2
        margin_x, margin_y = max(fw / 2 - half_extent - 8, 0), max(fh / 2 - half_extent - 8, 0)
        centre = np.array(
            [fw / 2 + rng.uniform(-margin_x, margin_x), fh / 2 + rng.uniform(-margin_y, margin_y)]
        )
        src = np.array([[0, 0], [PAGE_W, 0], [PAGE_W, PAGE_H], [0, PAGE_H]], np.float32)
        dst = np.array([centre + scale * rot @ (p - c) for p in src], np.float32)
        jitter = (0.10 if hard else 0.03) * scale * PAGE_W
        dst += rng.uniform(-jitter, jitter, dst.shape).astype(np.float32)
        matrix = cv2.getPerspectiveTransform(src, dst)
        corners = np.array([[[bx, by], [bx + bw, by], [bx + bw, by + bh], [bx, by + bh]]], np.float32)
        mapped = cv2.perspectiveTransform(corners, matrix)[0]
        if (
            mapped[:, 0].min() > 2
            and mapped[:, 1].min() > 2
            and mapped[:, 0].max() < fw - 2
            and mapped[:, 1].max() < fh - 2
        ):
            break
    background = np.clip(rng.normal(rng.uniform(40, 160), 12, (fh, fw)), 0, 255).astype(np.uint8)
    background = cv2.GaussianBlur(background, (0, 0), 3)
    warped = cv2.warpPerspective(
        page, matrix, (fw, fh), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    mask = cv2.warpPerspective(np.ones_like(page), matrix, (fw, fh), flags=cv2.INTER_NEAREST)
    return np.where(mask > 0, warped, background), scale * page_module


def _light_and_lens(rng: np.random.Generator, gray: np.ndarray, hard: bool, notes: list[str]) -> np.ndarray:
    """Colour, uneven and low light, glare, blur, noise; returns BGR float32."""
    h, w = gray.shape
    img = gray.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-0.5, 0.5, 2) if hard else rng.uniform(-0.15, 0.15, 2)
    light = 1.0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5)
    if hard and rng.random() < 0.4:
        light *= rng.uniform(0.2, 0.45)
        notes.append("low-light")
    img *= light
    if hard and rng.random() < 0.35:
        gx0, gy0 = rng.uniform(0.2 * w, 0.8 * w), rng.uniform(0.2 * h, 0.8 * h)
        radius = rng.uniform(0.05, 0.15) * w
        img += rng.uniform(90, 200) * np.exp(-((xx - gx0) ** 2 + (yy - gy0) ** 2) / (2 * radius**2))
        notes.append("glare")
    tint = np.array([rng.uniform(0.85, 1.0), rng.uniform(0.9, 1.0), 1.0], np.float32)
    bgr = img[:, :, None] * tint[None, None, :]
    if hard and rng.random() < 0.5:
        if rng.random() < 0.5:
            bgr = cv2.GaussianBlur(bgr, (0, 0), rng.uniform(0.8, 1.8))
            notes.append("blur")
        else:
            length = int(rng.integers(3, 8))
            kernel = np.zeros((length, length), np.float32)
            kernel[length // 2, :] = 1.0 / length
            rotm = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rotm, (length, length))
            bgr = cv2.filter2D(bgr, -1, kernel / max(kernel.sum(), 1e-6))
            notes.append("motion-blur")
    elif rng.random() < 0.5:
        bgr = cv2.GaussianBlur(bgr, (0, 0), rng.uniform(0.3, 0.7))
    sigma = rng.uniform(4, 14) if hard else rng.uniform(0.5, 3)
    bgr += rng.normal(0, sigma, bgr.shape).astype(np.float32)
    return bgr


def _finish(rng: np.random.Generator, bgr: np.ndarray, hard: bool, notes: list[str]) -> bytes:
    """Optional inversion (a phone screen in dark mode), then JPEG at a quality that fits the half."""
    img = np.clip(bgr, 0, 255).astype(np.uint8)
    if hard and rng.random() < 0.06:
        img = 255 - img
        notes.append("inverted")
    quality = int(rng.integers(25, 60) if hard else rng.integers(75, 95))
    notes.append(f"jpeg{quality}")
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def _plan(index: int, n: int) -> tuple[str, str]:
    """(split, kind) of sample ``index`` among ``n``: ~15% negatives, the rest half easy, half hard."""
    negatives = max(4, round(n * 0.15))
    if index >= n - negatives:
        kinds = ("blank", "ean13", "qr_foreign", "code128_other", "qr_bad_date")
        return "negative", kinds[(index - (n - negatives)) % len(kinds)]
    positives = n - negatives
    split = "easy" if index < (positives + 1) // 2 else "hard"
    if split == "easy" and index % 12 == 5:
        return split, "qr_vietnamese"
    if split == "easy" and index % 12 == 11:
        return split, "qr_eci"
    return split, ("qr", "code128", "both", "qr")[index % 4]


def make_sample(index: int, n: int = 200, seed: int = 4) -> tuple[bytes, Truth]:
    """JPEG bytes and ground truth of sample ``index`` of an ``n``-image corpus (deterministic)."""
    rng = np.random.default_rng([seed, index])
    split, kind = _plan(index, n)
    hard = split == "hard" or (split == "negative" and rng.random() < 0.5)
    fw, fh = FRAME_SIZES[index % 2]
    code = random_code(rng, bad_date=kind == "qr_bad_date")
    url = receipt_url(rng, code)
    symbols: list[tuple[str, str | bytes, int | None]] = []
    expected: str | None = code
    if kind in ("qr", "both", "qr_bad_date"):
        symbols.append(("qr", url, None))
    if kind in ("code128", "both"):
        symbols.append(("code128", code, None))
    if kind == "qr_vietnamese":
        symbols.append(("qr", VIETNAMESE_TEXT.format(code=code), None))
    if kind == "qr_eci":
        symbols.append(("qr", f"Mã: {code}", 3))  # Latin-1 with an explicit ECI 3 designator
    if kind == "qr_foreign":
        symbols.append(("qr", f"https://zalo.me/g/{rng.integers(10**8, 10**9)}", None))
    if kind == "code128_other":
        symbols.append(("code128", f"BN{rng.integers(10**6, 10**7)}", None))
    if kind == "ean13":
        digits = [int(d) for d in f"893{rng.integers(10**8, 10**9)}"]
        check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
        symbols.append(("ean13", "".join(map(str, digits)) + str(check), None))
    if split == "negative":
        expected = None
    page, boxes = render_page(rng, code if split != "negative" else "................", symbols)
    notes: list[str] = []
    box = boxes[int(rng.integers(len(boxes)))] if boxes else (PAGE_W - 250, 150, 180, 180)
    if hard and rng.random() < 0.4:
        page = _fold(rng, page, box)
        notes.append("fold")
    if hard and rng.random() < 0.3:
        page = _crumple(rng, page)
        notes.append("crumple")
    is_linear = bool(boxes) and symbols[boxes.index(box)][0] != "qr"
    page_module = 2.0 if is_linear else 4.0
    if is_linear:
        module_px = rng.uniform(1.3, 2.2) if hard else rng.uniform(2.2, 3.2)
    else:
        module_px = rng.uniform(2.0, 3.4) if hard else rng.uniform(3.4, 6.0)
    if fw < 1000:
        module_px *= 0.8
    gray, module_px = _photograph(rng, page, box, module_px, (fw, fh), hard, page_module)
    notes.append(f"module{module_px:.1f}px")
    jpeg = _finish(rng, _light_and_lens(rng, gray, hard, notes), hard, notes)
    payloads = [
        {"symbology": s, "text": c if isinstance(c, str) else c.decode("latin-1")} for s, c, _ in symbols
    ]
    truth = Truth(f"{index:04d}_{split}_{kind}.jpg", split, kind, fw, fh, expected, payloads, notes)
    return jpeg, truth


def decode_jpeg(data: bytes) -> np.ndarray:
    """A BGR image from JPEG bytes."""
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def iter_corpus(n: int, seed: int = 4) -> Iterator[tuple[np.ndarray, Truth]]:
    """Every sample of an ``n``-image corpus as (BGR image exactly as stored, truth), in memory."""
    for i in range(n):
        jpeg, truth = make_sample(i, n, seed)
        yield decode_jpeg(jpeg), truth


def write_corpus(outdir: Path, n: int, seed: int = 4) -> list[Truth]:
    """Write ``n`` JPEG images and ``truth.json`` into ``outdir``; returns the ground truth."""
    outdir.mkdir(parents=True, exist_ok=True)
    truths = []
    for i in range(n):
        jpeg, truth = make_sample(i, n, seed)
        (outdir / truth.file).write_bytes(jpeg)
        truths.append(truth)
    doc = {"seed": seed, "n": n, "images": [asdict(t) for t in truths]}
    (outdir / "truth.json").write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return truths


def load_truth(outdir: Path) -> list[Truth]:
    """The ground truth written by ``write_corpus``."""
    doc = json.loads((outdir / "truth.json").read_text(encoding="utf-8"))
    return [Truth(**item) for item in doc["images"]]


def main(argv: list[str] | None = None) -> int:
    """``python -m barcode.corpus OUTDIR -n 200 [--seed 4]``."""
    parser = argparse.ArgumentParser(prog="python -m barcode.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("-n", type=int, default=200, help="number of images (default 200)")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    if args.n < 8:
        print("corpus: -n must be at least 8", file=sys.stderr)
        return 2
    truths = write_corpus(args.outdir, args.n, args.seed)
    counts = {s: sum(t.split == s for t in truths) for s in ("easy", "hard", "negative")}
    print(f"wrote {len(truths)} images to {args.outdir} ({counts}); ground truth in truth.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
