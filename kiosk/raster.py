"""Slip text rendered with Kivy's text renderer (the screen's font, full Vietnamese) into a 1-bit image.

Runs on the UI thread (textures); the ESC/POS bytes are then sent on a worker thread.
"""

from __future__ import annotations

from kiosk.escpos import Bitmap
from kiosk.printing import SlipLine


def rasterise(lines: list[SlipLine], width: int) -> Bitmap:
    """Render slip lines with Kivy's text renderer (Roboto, full Vietnamese) into a 1-bit image."""
    from kivy.core.text import Label as CoreLabel

    sizes = {"title": 30, "bold": 24, "normal": 22, "small": 19}
    rows: list[bytes] = []
    blank = b"\xff" * width
    for line in lines:
        label = CoreLabel(
            text=line.text,
            font_size=sizes.get(line.style, 22),
            bold=line.style in ("title", "bold"),
            text_size=(width - 8, None),
            halign="center" if line.style == "title" else "left",
            color=(0, 0, 0, 1),
        )
        label.refresh()
        texture = label.texture
        if texture is None or texture.width <= 1:
            continue
        tw, th = texture.size
        pixels = texture.pixels  # RGBA rows, top row first (checked in tests/kiosk)
        for y in range(th):
            ink = pixels[y * tw * 4 + 3 : (y + 1) * tw * 4 : 4].translate(_INVERT)
            rows.append(ink[:width].ljust(width, b"\xff"))
        rows.extend([blank] * 6)
    return Bitmap.from_gray(width, len(rows), b"".join(rows))


_INVERT = bytes(255 - i for i in range(256))  # coverage (alpha) -> gray: full coverage is black
