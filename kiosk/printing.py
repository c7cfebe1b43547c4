"""The status slip: what it says, how it becomes ESC/POS bytes, and the printer ports (USB or serial).

The slip's text is rendered to a 1-bit image by the UI (``Rasteriser``: Kivy's text renderer, the same
font as the screen) so Vietnamese prints intact on any ESC/POS printer; ``printer_text = "ascii"`` prints
unaccented text with the printer's own font instead. The QR code is always a raster image. Sending runs
on a worker thread and is bounded by ``printer_timeout_s``; an absent or stuck printer raises
``HardwareUnavailable`` and the kiosk says so on screen.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import segno

from dossier.errors import HardwareUnavailable
from dossier.render import format_date
from kiosk.escpos import Bitmap, EscPos
from kiosk.i18n import t
from kiosk.present import ResultView
from kiosk.settings import KioskSection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlipLine:
    """One line (or paragraph) of the slip: ``style`` is title, bold, normal or small."""

    text: str
    style: str = "normal"


Rasteriser = Callable[[list[SlipLine], int], Bitmap]
"""Renders slip lines to a bitmap ``width`` dots wide (called on the UI thread)."""


def slip_lines(view: ResultView, lang: str, printed_at: datetime) -> list[SlipLine]:
    """The slip's content: state first, then every field, next steps and the print time."""
    lines = [SlipLine(t(lang, "result_title").upper(), "title"), SlipLine(view.code, "bold")]
    lines.append(SlipLine(f"{t(lang, 'f_state')}: {view.state}", "bold"))
    if view.flag:
        lines.append(SlipLine(f"{view.flag}. {view.flag_text}".strip(), "bold"))
    if view.banner:
        lines.append(SlipLine(view.banner, "small"))
    lines += [SlipLine(f"{label}: {value}") for label, value in view.fields[1:]]
    lines += [SlipLine(step, "bold") for step in view.next_steps]
    if view.qr_url:
        lines.append(SlipLine(t(lang, "qr_caption"), "small"))
    lines.append(SlipLine(format_date(printed_at, with_time=True), "small"))
    return lines


def qr_bitmap(url: str, max_width: int) -> Bitmap:
    """The QR code of ``url`` as a bitmap at most ``max_width`` dots wide (whole dots per module)."""
    qr = segno.make(url, error="m")
    matrix = qr.matrix
    border = 2
    size = len(matrix) + 2 * border
    rows = [[False] * size for _ in range(border)]
    rows += [[False] * border + [bool(v) for v in row] + [False] * border for row in matrix]
    rows += [[False] * size for _ in range(border)]
    factor = max(1, min(8, max_width // size))
    return Bitmap.from_rows(rows).scaled(factor)


def compose_job(
    lines: list[SlipLine],
    *,
    mode: str,
    width_dots: int,
    text_image: Bitmap | None = None,
    qr_url: str = "",
) -> bytes:
    """The print job: text as a raster image (``mode="raster"``) or unaccented text (``"ascii"``)."""
    job = EscPos().init()
    if mode == "raster":
        if text_image is None:
            raise ValueError("raster mode needs the rendered text image")
        job.align("left").raster(text_image)
    else:
        for line in lines:
            job.align("center" if line.style == "title" else "left")
            job.bold(line.style in ("title", "bold"))
            if line.style == "title":
                job.size(2, 2)
            else:
                job.size(1, 1)
            job.line(line.text)
        job.bold(False).size(1, 1)
    if qr_url:
        job.align("center").raster(qr_bitmap(qr_url, min(width_dots, 320))).align("left")
    return job.feed(2).cut().build()


class DevicePrinter:
    """A printer behind a device file (``/dev/usb/lp0`` from the usblp driver) or, for tests, a plain file."""

    def __init__(self, path: str, *, timeout_s: float = 5.0, append_file: bool = False) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.append_file = append_file

    def send(self, data: bytes) -> None:
        """Write the job within the timeout; raises ``HardwareUnavailable``."""
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY
        if self.append_file:
            flags |= os.O_CREAT | os.O_APPEND
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as err:
            raise HardwareUnavailable(
                f"printer {self.path} cannot be opened ({err.strerror})", hint="is it plugged in and on?"
            ) from None
        deadline = time.monotonic() + self.timeout_s
        view = memoryview(data)
        try:
            while view:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HardwareUnavailable(
                        f"printer {self.path} did not take the job in time (paper? cover?)"
                    )
                _, writable, _ = select.select([], [fd], [], left)
                if not writable:
                    continue
                try:
                    written = os.write(fd, view[:4096])
                except BlockingIOError:
                    continue
                except OSError as err:
                    if err.errno == errno.EINTR:
                        continue
                    raise HardwareUnavailable(f"printer {self.path} failed ({err.strerror})") from None
                view = view[written:]
        finally:
            os.close(fd)


class SerialPrinter:
    """A printer on a serial port (pyserial), with a write timeout."""

    def __init__(self, port: str, baud: int, *, timeout_s: float = 5.0) -> None:
        self.port = port
        self.baud = baud
        self.timeout_s = timeout_s

    def send(self, data: bytes) -> None:
        """Write the job; raises ``HardwareUnavailable`` when the port is absent or the write times out."""
        import serial  # pyserial: only a kiosk with a serial printer needs it

        try:
            with serial.Serial(self.port, self.baud, write_timeout=self.timeout_s, timeout=1) as port:
                port.write(data)
                port.flush()
        except serial.SerialTimeoutException:
            raise HardwareUnavailable(f"printer on {self.port} did not take the job in time") from None
        except (serial.SerialException, OSError) as err:
            raise HardwareUnavailable(f"printer on {self.port} is not available ({err})") from None


def make_printer(s: KioskSection) -> DevicePrinter | SerialPrinter | None:
    """The configured printer, or None (``printer = "none"``)."""
    if s.printer == "none":
        return None
    if s.printer == "serial":
        return SerialPrinter(s.printer_device, s.printer_baud, timeout_s=s.printer_timeout_s)
    return DevicePrinter(s.printer_device, timeout_s=s.printer_timeout_s, append_file=s.printer == "file")
