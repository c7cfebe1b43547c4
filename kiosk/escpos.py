"""A small ESC/POS encoder: the handful of commands a status slip needs, as bytes.

Commands (Epson ESC/POS, implemented alike by the common 58/80 mm thermal printers):
``ESC @`` initialise, ``ESC t n`` code table, ``ESC a n`` alignment, ``ESC E n`` bold, ``GS ! n`` size,
``ESC d n`` feed, ``GS V 66 n`` feed and partial cut, ``GS v 0`` raster bit image.

Vietnamese text: most printers' code pages lack Vietnamese, and CP1258 cannot carry every precomposed
letter (ứ, ễ, ậ lose their marks). So text is printed as a raster image of the rendered text (any
ESC/POS printer prints it, diacritics intact), or, as a configured fallback, as unaccented ASCII.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

ESC, GS = 0x1B, 0x1D
RASTER_BAND_ROWS = 256  # rows per GS v 0 command (printers' receive buffers are small)


@dataclass(frozen=True)
class Bitmap:
    """A 1-bit image: ``rows`` of ``(width + 7) // 8`` bytes each, most significant bit leftmost, 1 = black."""

    width: int
    height: int
    data: bytes

    @property
    def row_bytes(self) -> int:
        """Bytes per row."""
        return (self.width + 7) // 8

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height < 0 or len(self.data) != self.row_bytes * self.height:
            raise ValueError(f"bitmap data is {len(self.data)} bytes, not {self.row_bytes}×{self.height}")

    def pixel(self, x: int, y: int) -> bool:
        """Whether the dot at (x, y) is black."""
        return bool(self.data[y * self.row_bytes + x // 8] & (0x80 >> (x % 8)))

    @classmethod
    def from_rows(cls, rows: list[list[bool]]) -> Bitmap:
        """Pack rows of booleans (True = black)."""
        height = len(rows)
        width = max((len(r) for r in rows), default=0) or 1
        out = bytearray()
        for row in rows:
            packed = bytearray((width + 7) // 8)
            for x, black in enumerate(row):
                if black:
                    packed[x // 8] |= 0x80 >> (x % 8)
            out += packed
        return cls(width, height, bytes(out))

    @classmethod
    def from_gray(cls, width: int, height: int, gray: bytes, *, threshold: int = 160) -> Bitmap:
        """Threshold 8-bit gray pixels (row-major, top row first); darker than ``threshold`` is black."""
        if len(gray) != width * height:
            raise ValueError("gray data does not match the size")
        row_bytes = (width + 7) // 8
        table = bytes(0x31 if v < threshold else 0x30 for v in range(256))  # "1" black, "0" white
        pad = b"0" * (row_bytes * 8 - width)
        out = bytearray()
        for y in range(height):
            bits = gray[y * width : (y + 1) * width].translate(table) + pad
            out += int(bits, 2).to_bytes(row_bytes, "big")
        return cls(width, height, bytes(out))

    def scaled(self, factor: int) -> Bitmap:
        """Each dot as a ``factor`` × ``factor`` block (QR modules)."""
        rows = [
            [self.pixel(x, y) for x in range(self.width) for _ in range(factor)] for y in range(self.height)
        ]
        return Bitmap.from_rows([row for row in rows for _ in range(factor)])


def to_ascii(text: str) -> str:
    """Unaccented text: "Đã trả kết quả" → "Da tra ket qua"; other non-ASCII characters become "?"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c if 32 <= ord(c) < 127 or c == "\n" else "?" for c in stripped)


class EscPos:
    """Builds one print job's bytes."""

    def __init__(self) -> None:
        self._out = bytearray()

    def init(self) -> EscPos:
        """ESC @ and code table 0 (PC437: plain ASCII is the same everywhere)."""
        self._out += bytes((ESC, 0x40, ESC, 0x74, 0))
        return self

    def align(self, where: str) -> EscPos:
        """ESC a n: "left", "center" or "right"."""
        self._out += bytes((ESC, 0x61, {"left": 0, "center": 1, "right": 2}[where]))
        return self

    def bold(self, on: bool) -> EscPos:
        """ESC E n."""
        self._out += bytes((ESC, 0x45, 1 if on else 0))
        return self

    def size(self, width: int = 1, height: int = 1) -> EscPos:
        """GS ! n: character magnification 1–8 in each direction."""
        if not (1 <= width <= 8 and 1 <= height <= 8):
            raise ValueError("character size must be 1-8")
        self._out += bytes((GS, 0x21, ((width - 1) << 4) | (height - 1)))
        return self

    def text(self, text: str) -> EscPos:
        """Unaccented ASCII text (see ``to_ascii``); no line feed added."""
        self._out += to_ascii(text).encode("ascii")
        return self

    def line(self, text: str = "") -> EscPos:
        """Text and a line feed."""
        return self.text(text).raw(b"\n")

    def feed(self, lines: int) -> EscPos:
        """ESC d n: print and feed ``lines`` lines."""
        self._out += bytes((ESC, 0x64, max(0, min(255, lines))))
        return self

    def cut(self, feed: int = 3) -> EscPos:
        """GS V 66 n: feed ``n`` and cut partially (printers without a cutter ignore it)."""
        self._out += bytes((GS, 0x56, 66, max(0, min(255, feed))))
        return self

    def raster(self, bitmap: Bitmap) -> EscPos:
        """GS v 0: a raster bit image, sent in bands of at most ``RASTER_BAND_ROWS`` rows."""
        rb = bitmap.row_bytes
        if rb > 0xFFFF:
            raise ValueError("bitmap too wide")
        for top in range(0, bitmap.height, RASTER_BAND_ROWS):
            rows = min(RASTER_BAND_ROWS, bitmap.height - top)
            self._out += bytes((GS, 0x76, 0x30, 0, rb & 0xFF, rb >> 8, rows & 0xFF, rows >> 8))
            self._out += bitmap.data[top * rb : (top + rows) * rb]
        return self

    def raw(self, data: bytes) -> EscPos:
        """Bytes as they are."""
        self._out += data
        return self

    def build(self) -> bytes:
        """The job's bytes."""
        return bytes(self._out)
