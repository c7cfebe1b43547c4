"""Image dimensions from a file's header, read before any pixel is decoded.

A 400 KB PNG can declare 20000×20000 pixels: decoding it allocates gigabytes. ``image_size`` reads the
width and height that JPEG, PNG, BMP, TIFF and WebP files declare (pure Python, no decoder), so that
``load_image`` can refuse or scale down an image before OpenCV allocates anything.
"""

from __future__ import annotations

import struct

FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WebP")
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class HeaderError(ValueError):
    """The bytes do not start like an image of a supported format, or its header is cut short."""


def image_size(data: bytes) -> tuple[str, int, int]:
    """(format, width, height) declared by the header; raises ``HeaderError`` for other data."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return _png(data)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data.startswith(b"BM"):
            return _bmp(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except (struct.error, IndexError):
        raise HeaderError("the image header is cut short") from None
    raise HeaderError("not a JPEG, PNG, BMP, TIFF or WebP image")


def _png(data: bytes) -> tuple[str, int, int]:
    if data[12:16] != b"IHDR":
        raise HeaderError("PNG without an IHDR header")
    width, height = struct.unpack(">II", data[16:24])
    return "PNG", width, height


def _jpeg(data: bytes) -> tuple[str, int, int]:
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise HeaderError("JPEG markers are damaged")
        while data[i] == 0xFF:  # fill bytes
            i += 1
        marker = data[i]
        i += 1
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers carry no length
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before them
            break
        (length,) = struct.unpack(">H", data[i : i + 2])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 3 : i + 7])
            return "JPEG", width, height
        if length < 2:
            raise HeaderError("JPEG segment length is damaged")
        i += length
    raise HeaderError("JPEG without a frame header")


def _bmp(data: bytes) -> tuple[str, int, int]:
    (dib,) = struct.unpack("<I", data[14:18])
    if dib == 12:
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return "BMP", abs(width), abs(height)


def _tiff(data: bytes) -> tuple[str, int, int]:
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    dims: dict[int, int] = {}
    for n in range(count):
        entry = data[offset + 2 + 12 * n : offset + 14 + 12 * n]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            value = (
                struct.unpack(order + "H", entry[8:10])[0]
                if kind == 3
                else struct.unpack(order + "I", entry[8:12])[0]
            )
            dims[tag] = value
    if 256 not in dims or 257 not in dims:
        raise HeaderError("TIFF without its width and height")
    return "TIFF", dims[256], dims[257]


def _webp(data: bytes) -> tuple[str, int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    elif chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        width, height = width & 0x3FFF, height & 0x3FFF
    else:
        raise HeaderError("WebP of an unknown kind")
    if len(data) < 30:
        raise HeaderError("the image header is cut short")
    return "WebP", width, height
