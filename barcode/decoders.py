"""Decoder adapters (zxing-cpp, zbar, OpenCV QR) behind one interface; the only module importing them.

Each adapter takes a grayscale frame (2-D uint8 numpy array) and returns ``Decoded`` results limited to
the symbologies it was built for. Whatever a foreign decoder raises (``cv2.error`` on ECI payloads,
``UnicodeDecodeError``, ctypes errors) is translated into ``DecodeError`` in ``_foreign`` and nowhere else.
zxing-cpp also renders symbols (``render_symbol``) for the test corpus.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import zxingcpp

from barcode.errors import DecodeError, DecoderUnavailable
from dossier.errors import MotcuaError

log = logging.getLogger(__name__)

Quad = tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]

_ZXING_FORMATS = {
    "qr": zxingcpp.BarcodeFormat.QRCode,
    "code128": zxingcpp.BarcodeFormat.Code128,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "pdf417": zxingcpp.BarcodeFormat.PDF417,
    "ean13": zxingcpp.BarcodeFormat.EAN13,  # only for rendering negatives in the corpus
}
_ZXING_NAMES = {"QRCode": "qr", "Code128": "code128", "DataMatrix": "datamatrix", "PDF417": "pdf417"}
_ZBAR_NAMES = {"QRCODE": "qr", "CODE128": "code128", "PDF417": "pdf417"}


@dataclass(frozen=True, slots=True)
class Decoded:
    """One symbol read from a frame: its text, symbology, corners in frame pixels and raw bytes."""

    text: str
    symbology: str
    quad: Quad
    decoder: str
    raw: bytes = b""
    binary: bool = False  # the payload is not text (bytes shown as Latin-1 when not UTF-8)

    def shifted(self, dx: int, dy: int, scale: float = 1.0) -> Decoded:
        """The same result with its corners mapped back from a crop/resized image to the frame."""
        quad = tuple((int(round(x / scale)) + dx, int(round(y / scale)) + dy) for x, y in self.quad)
        return Decoded(self.text, self.symbology, quad, self.decoder, self.raw, self.binary)  # type: ignore[arg-type]


class Decoder(Protocol):
    """A barcode decoder: grayscale frame in, results for the configured symbologies out."""

    name: str
    symbologies: tuple[str, ...]

    def decode(self, gray: np.ndarray) -> list[Decoded]:
        """Decode ``gray``; raises ``DecodeError`` (and only that) when the library fails."""
        ...


@contextmanager
def _foreign(decoder: str) -> Iterator[None]:
    """The one place where foreign decoder exceptions become ``DecodeError``."""
    try:
        yield
    except MotcuaError:
        raise
    except Exception as err:  # cv2.error, UnicodeDecodeError, ctypes.ArgumentError, RuntimeError...
        raise DecodeError(f"{decoder} decoder failed: {type(err).__name__}: {str(err)[:200]}") from None


def bytes_to_text(raw: bytes) -> tuple[str, bool]:
    """(text, is_binary): UTF-8 when it is valid UTF-8 without control bytes, else Latin-1 marked binary."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True
    binary = any(ord(c) < 32 and c not in "\t\r\n\x1d\x1e\x04" for c in text)
    return text, binary


class ZxingDecoder:
    """zxing-cpp: the fastest and most tolerant reader measured here; handles ECI and inverted codes."""

    name = "zxing"

    def __init__(self, symbologies: Sequence[str] = ("qr", "code128"), *, binarizer: str = "local") -> None:
        self.symbologies = tuple(s for s in symbologies if s in _ZXING_NAMES.values())
        self._formats = zxingcpp.BarcodeFormats([_ZXING_FORMATS[s] for s in self.symbologies])
        self._binarizer = (
            zxingcpp.Binarizer.GlobalHistogram if binarizer == "global" else zxingcpp.Binarizer.LocalAverage
        )
        if binarizer == "global":
            self.name = "zxing-global"

    def decode(self, gray: np.ndarray) -> list[Decoded]:
        """Decode ``gray`` with zxing-cpp restricted to the configured formats."""
        if not self.symbologies:
            return []
        with _foreign(self.name):
            found = zxingcpp.read_barcodes(
                gray, formats=self._formats, text_mode=zxingcpp.TextMode.Plain, binarizer=self._binarizer
            )
            return [self._convert(b) for b in found if b.valid]

    def _convert(self, b: Any) -> Decoded:
        raw = bytes(b.bytes)
        symbology = _ZXING_NAMES.get(b.format.name, b.format.name.lower())
        if b.content_type == zxingcpp.ContentType.Binary:
            text, binary = bytes_to_text(raw)
        else:
            text, binary = b.text, False
        p = b.position
        quad = tuple(
            (int(pt.x), int(pt.y)) for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)
        )
        return Decoded(text, symbology, quad, self.name, raw, binary)  # type: ignore[arg-type]


class ZbarDecoder:
    """zbar through pyzbar (needs the libzbar0 system package); QR, Code128 and PDF417 only."""

    name = "zbar"

    def __init__(self, symbologies: Sequence[str] = ("qr", "code128")) -> None:
        try:
            from pyzbar import pyzbar
        except (ImportError, OSError) as err:  # OSError: libzbar.so missing
            raise DecoderUnavailable(
                f"the zbar decoder cannot be loaded ({err})", hint="install the Debian package libzbar0"
            ) from None
        self._pyzbar = pyzbar
        wanted = {v: k for k, v in _ZBAR_NAMES.items()}
        self.symbologies = tuple(s for s in symbologies if s in wanted)
        self._symbols = [getattr(pyzbar.ZBarSymbol, wanted[s]) for s in self.symbologies]

    def decode(self, gray: np.ndarray) -> list[Decoded]:
        """Decode ``gray`` with zbar restricted to the configured symbols."""
        if not self._symbols:
            return []
        with _foreign(self.name):
            out = []
            for d in self._pyzbar.decode(gray, symbols=self._symbols):
                text, binary = bytes_to_text(bytes(d.data))
                pts = [(int(p.x), int(p.y)) for p in d.polygon][:4]
                if len(pts) < 4:
                    r = d.rect
                    pts = [(r.left, r.top), (r.left + r.width, r.top), (r.left + r.width, r.top + r.height)]
                    pts.append((r.left, r.top + r.height))
                symbology = _ZBAR_NAMES.get(d.type, d.type.lower())
                out.append(Decoded(text, symbology, tuple(pts), self.name, bytes(d.data), binary))  # type: ignore[arg-type]
            return out


class OpencvQrDecoder:
    """OpenCV's QRCodeDetector: QR only, slow, raises on ECI payloads; kept for comparison."""

    name = "opencv"

    def __init__(self, symbologies: Sequence[str] = ("qr",)) -> None:
        import cv2  # OpenCV is imported here for its QR decoder only

        # errors only: its QR decoder warns on every ECI payload
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        self.symbologies = tuple(s for s in symbologies if s == "qr")
        self._detector = cv2.QRCodeDetector()

    def decode(self, gray: np.ndarray) -> list[Decoded]:
        """Decode QR codes in ``gray`` with OpenCV (bytes API, so non-UTF-8 payloads do not raise)."""
        if not self.symbologies:
            return []
        with _foreign(self.name):
            ok, payloads, points, _ = self._detector.detectAndDecodeBytesMulti(gray)
            if not ok or points is None:
                return []
            out = []
            for payload, corners in zip(payloads, points, strict=False):
                if not payload:
                    continue
                raw = bytes(payload)
                text, binary = bytes_to_text(raw)
                quad = tuple((int(x), int(y)) for x, y in corners[:4])
                out.append(Decoded(text, "qr", quad, self.name, raw, binary))  # type: ignore[arg-type]
            return out


def build_decoder(name: str, symbologies: Sequence[str]) -> Decoder:
    """The adapter called ``name`` (zxing, zxing-global, zbar, opencv); raises ``DecoderUnavailable``."""
    if name == "zxing":
        return ZxingDecoder(symbologies)
    if name == "zxing-global":
        return ZxingDecoder(symbologies, binarizer="global")
    if name == "zbar":
        return ZbarDecoder(symbologies)
    if name == "opencv":
        try:
            return OpencvQrDecoder(symbologies)
        except ImportError as err:
            raise DecoderUnavailable(f"OpenCV cannot be loaded ({err})") from None
    raise DecoderUnavailable(f"unknown decoder {name!r}", hint="use zxing, zbar or opencv")


def render_symbol(
    content: str | bytes, symbology: str, *, scale: int = 4, eci: int | None = None
) -> np.ndarray:
    """A clean grayscale image (with quiet zone) of ``content`` as ``symbology``; for test corpora."""
    kwargs: dict[str, Any] = {} if eci is None else {"eci": eci}
    with _foreign("zxing writer"):
        symbol = zxingcpp.create_barcode(content, _ZXING_FORMATS[symbology], **kwargs)
        return np.array(symbol.to_image(scale=scale), dtype=np.uint8)
