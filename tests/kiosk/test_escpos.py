"""The ESC/POS encoder on bytes, the slip, and the printer ports (device file, FIFO, missing device)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dossier.errors import HardwareUnavailable
from dossier.model import Status
from kiosk.escpos import Bitmap, EscPos, to_ascii
from kiosk.present import result_view
from kiosk.printing import DevicePrinter, SerialPrinter, compose_job, make_printer, qr_bitmap, slip_lines
from kiosk.settings import KioskSection
from tests.kiosk.data import NOW, dossier, found


def test_commands_are_the_escpos_bytes() -> None:
    job = EscPos().init().align("center").bold(True).size(2, 2).line("Hồ sơ").feed(3).cut().build()
    assert job == (
        b"\x1b@\x1bt\x00"  # ESC @, ESC t 0
        b"\x1ba\x01"  # ESC a 1
        b"\x1bE\x01"  # ESC E 1
        b"\x1d!\x11"  # GS ! (2x2)
        b"Ho so\n"
        b"\x1bd\x03"  # ESC d 3
        b"\x1dVB\x03"  # GS V 66 3
    )
    with pytest.raises(ValueError):
        EscPos().size(9, 1)


def test_raster_header_and_bands() -> None:
    rows = [[x % 2 == 0 for x in range(10)] for _ in range(300)]
    bmp = Bitmap.from_rows(rows)
    assert bmp.row_bytes == 2 and bmp.data[:2] == b"\xaa\x80"
    job = EscPos().raster(bmp).build()
    # two bands: 256 rows then 44 rows; GS v 0 m xL xH yL yH
    assert job[:8] == b"\x1dv0\x00\x02\x00\x00\x01"
    second = 8 + 2 * 256
    assert job[second : second + 8] == b"\x1dv0\x00\x02\x00\x2c\x00"
    assert len(job) == 16 + 2 * 300


def test_unaccented_fallback_keeps_every_letter() -> None:
    assert to_ascii("Đã trả kết quả: ứ ễ ậ đ Ư") == "Da tra ket qua: u e a d U"
    assert to_ascii("mã № 5 ✓") == "ma No 5 ?"


def test_gray_threshold_and_qr_bitmap() -> None:
    bmp = Bitmap.from_gray(9, 1, bytes([0, 255, 100, 200, 0, 0, 255, 255, 10]))
    assert [bmp.pixel(x, 0) for x in range(9)] == [True, False, True, False, True, True, False, False, True]
    url = "https://dichvucong.gov.vn/?ma=000.00.15.H56-240315-0001"
    qr = qr_bitmap(url, 320)
    assert qr.width == qr.height and qr.width <= 320
    np = pytest.importorskip("numpy")
    zxingcpp = pytest.importorskip("zxingcpp")
    image = np.array(
        [[0 if qr.pixel(x, y) else 255 for x in range(qr.width)] for y in range(qr.height)], np.uint8
    )
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [url]  # what the printer prints, read back


def test_slip_in_ascii_mode_and_raster_mode() -> None:
    view = result_view(found(dossier(Status.FINISHED)), "vi", NOW, url_template="https://x.vn/?ma={code}")
    lines = slip_lines(view, "vi", NOW)
    assert lines[0].style == "title" and any("Đã có kết quả" in line.text for line in lines)
    text_job = compose_job(lines, mode="ascii", width_dots=384, qr_url=view.qr_url)
    assert b"Da co ket qua, moi den nhan" in text_job and b"\x1dv0" in text_job  # text and the QR image
    assert text_job.endswith(b"\x1dVB\x03")
    image = Bitmap.from_rows([[True] * 384] * 5)
    raster_job = compose_job(lines, mode="raster", width_dots=384, text_image=image)
    assert b"Da co" not in raster_job and b"\x1dv0\x000\x00\x05\x00" in raster_job
    with pytest.raises(ValueError):
        compose_job(lines, mode="raster", width_dots=384)


def test_device_printer_writes_the_job(tmp_path: Path) -> None:
    target = tmp_path / "lp0"
    printer = make_printer(KioskSection(printer="file", printer_device=str(target)))
    assert isinstance(printer, DevicePrinter)
    printer.send(b"\x1b@hello")
    assert target.read_bytes() == b"\x1b@hello"
    assert make_printer(KioskSection()) is None
    assert isinstance(
        make_printer(KioskSection(printer="serial", printer_device="/dev/ttyUSB9")), SerialPrinter
    )


def test_missing_or_stuck_printer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HardwareUnavailable, match="cannot be opened"):
        DevicePrinter(str(tmp_path / "absent")).send(b"x")
    fifo = tmp_path / "printer.fifo"
    os.mkfifo(fifo)
    with pytest.raises(HardwareUnavailable):  # nobody reading: ENXIO at open
        DevicePrinter(str(fifo), timeout_s=0.5).send(b"x")
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a printer that is there but never takes data
    try:
        with pytest.raises(HardwareUnavailable, match="in time"):
            DevicePrinter(str(fifo), timeout_s=0.3).send(b"x" * 1_000_000)  # fills the pipe, then times out
    finally:
        os.close(fd)
    with pytest.raises(HardwareUnavailable):
        SerialPrinter(str(tmp_path / "ttyUSB9"), 9600, timeout_s=0.5).send(b"x")
