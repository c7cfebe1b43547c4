"""Image files: the pixel count is read from the header before decoding; large allowed images are scaled."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from barcode.decoders import render_symbol
from barcode.errors import ImageUnreadable
from barcode.image_header import HeaderError, image_size
from barcode.pipeline import DECODE_MAX_PIXELS, DecodePipeline, load_image, load_image_scaled

ROOT = Path(__file__).resolve().parents[2]
URL = "https://dichvucong.hanam.gov.vn/tra-cuu-ho-so/000.00.15.H56-240315-0001"


def huge_png(path: Path, width: int = 20_000, height: int = 20_000) -> Path:
    """A valid 1-bit grey PNG of width×height white pixels: a few hundred KB on disk, gigabytes decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def test_a_20000_pixel_square_png_is_refused_without_allocating_it(tmp_path: Path) -> None:
    png = huge_png(tmp_path / "bomb.png")
    assert png.stat().st_size < 1_000_000
    script = (
        "import sys\n"
        "from barcode.pipeline import load_image\n"
        "from barcode.errors import ImageUnreadable\n"
        "try:\n"
        f"    load_image({str(png)!r})\n"
        "    print('decoded')\n"
        "except ImageUnreadable as err:\n"
        "    print(err)\n"
        # VmHWM is this program's own peak; ru_maxrss would also count the forked pytest process.
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM:')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    message, peak_kib = proc.stdout.strip().splitlines()
    assert "20000×20000 pixels is more than barcode.max_image_pixels" in message
    assert int(peak_kib) < 400_000  # the decoded image alone would be 1.2 GB


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tiff", ".webp"])
def test_header_sizes_of_every_format_opencv_writes(tmp_path: Path, ext: str) -> None:
    image = np.full((37, 53, 3), 200, np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok
    kind, width, height = image_size(data.tobytes())
    assert (width, height) == (53, 37)


def test_damaged_or_foreign_headers_are_one_line(tmp_path: Path) -> None:
    ok, data = cv2.imencode(".jpg", np.full((20, 20, 3), 9, np.uint8))
    for bad in (b"hello", b"\x89PNG\r\n\x1a\n\x00", data.tobytes()[:5], b"GIF89a" + b"\x00" * 20):
        with pytest.raises(HeaderError):
            image_size(bad)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data.tobytes()[:5])
    with pytest.raises(ImageUnreadable, match="not an image motcua reads"):
        load_image(cut)


def test_a_large_allowed_photo_is_scaled_down_and_still_read(tmp_path: Path) -> None:
    page = np.full((3600, 4800), 235, np.uint8)  # 17 MP: over DECODE_MAX_PIXELS
    qr = render_symbol(URL, "qr", scale=16)
    page[1000 : 1000 + qr.shape[0], 2000 : 2000 + qr.shape[1]] = qr
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), page, [cv2.IMWRITE_JPEG_QUALITY, 90])
    image, scale = load_image_scaled(path)
    assert image.shape[0] * image.shape[1] <= DECODE_MAX_PIXELS and scale == 0.5
    [found] = DecodePipeline(budget_ms=2000).decode(image).results
    assert found.text == URL
    x0 = min(x for x, _ in found.shifted(0, 0, scale).quad)
    assert 1990 <= x0 <= 2100  # corners mapped back to the file's pixels
    with pytest.raises(ImageUnreadable, match="more than barcode.max_image_pixels"):
        load_image(path, max_pixels=10_000_000)


def test_scan_image_json_carries_the_whole_text_and_the_screen_says_it_shortened(tmp_path: Path) -> None:
    long_text = URL + "?" + "&".join(f"k{i}=v{i}" for i in range(120))  # > 512 characters
    assert len(long_text) > 1000
    page = np.full((900, 900), 235, np.uint8)
    qr = render_symbol(long_text, "qr", scale=4)
    page[20 : 20 + qr.shape[0], 20 : 20 + qr.shape[1]] = qr
    path = tmp_path / "long.png"
    cv2.imwrite(str(path), page)
    run = [sys.executable, "-m", "appliance.cli", "scan", "image", str(path)]
    as_json = subprocess.run([*run, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    [doc] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert doc["decoded"][0]["text"] == long_text
    human = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert (
        long_text not in human and f"({len(long_text)} characters, shortened here; --json shows all)" in human
    )
