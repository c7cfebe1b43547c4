"""The ``[barcode]`` configuration section: symbologies, decoding budget, camera, keyboard wedge, serial."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

SYMBOLOGIES = ("qr", "code128", "datamatrix", "pdf417")
DECODERS = ("zxing", "zbar", "opencv")

Symbology = Literal["qr", "code128", "datamatrix", "pdf417"]
DecoderName = Literal["zxing", "zbar", "opencv"]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)]
Fraction = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class BarcodeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How receipts' barcodes are read: which symbologies, by which decoders, from which devices."""

    # what to decode
    symbologies: Annotated[tuple[Symbology, ...], msgspec.Meta(min_length=1)] = ("qr", "code128")
    # the first decodes every frame; the others are second opinions on hard frames
    decoders: Annotated[tuple[DecoderName, ...], msgspec.Meta(min_length=1)] = ("zxing", "zbar")
    # total decode time allowed per frame, fallbacks included
    frame_budget_ms: Annotated[float, msgspec.Meta(gt=0.0, le=10_000.0)] = 40.0
    fallbacks: bool = True  # contrast / upscale / sharpen / binarise retries while budget remains
    # images (and frames) with more pixels are refused before decoding; large allowed ones are downscaled
    max_image_pixels: Annotated[int, msgspec.Meta(ge=10_000, le=400_000_000)] = 40_000_000

    # camera
    camera_enabled: bool = False
    camera_device: str = "0"  # V4L2 index ("0") or path ("/dev/video0", "/dev/v4l/by-id/...")
    camera_width: Annotated[int, msgspec.Meta(ge=16, le=8192)] = 1280
    camera_height: Annotated[int, msgspec.Meta(ge=16, le=8192)] = 720
    camera_fps: Annotated[int, msgspec.Meta(ge=1, le=240)] = 15  # capture rate asked of the camera
    camera_roi: tuple[Fraction, ...] = ()  # [x, y, w, h] as fractions of the frame; empty: whole frame
    decode_fps: Annotated[float, msgspec.Meta(gt=0.0, le=120.0)] = 8.0  # at most this many decodes/s
    cpu_share: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] = 0.5  # average share of one core
    dedupe_seconds: NonNegative = 3.0  # the same code is reported once within this window
    camera_retry_max_s: NonNegative = 30.0  # longest wait between attempts to reopen a vanished camera
    camera_read_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 2.0

    # keyboard wedge (USB scanner typing like a keyboard)
    wedge_enabled: bool = False
    wedge_max_gap_ms: Annotated[float, msgspec.Meta(gt=0.0, le=1000.0)] = 30.0  # keys closer: a burst
    wedge_min_length: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 6  # shorter bursts are typing
    wedge_max_length: Annotated[int, msgspec.Meta(ge=1, le=65_536)] = 1024
    wedge_prefix: str = ""  # characters the scanner is configured to send first (stripped)
    wedge_suffix: str = ""  # characters the scanner is configured to send last (stripped)
    # empty: a burst ends after a quiet gap
    wedge_terminators: tuple[Literal["enter", "tab"], ...] = ("enter", "tab")
    wedge_evdev_device: str = ""  # e.g. /dev/input/by-id/usb-...-event-kbd; empty: no exclusive read

    # serial scanner
    serial_enabled: bool = False
    serial_port: str = ""  # e.g. /dev/ttyACM0 or /dev/serial/by-id/...
    serial_baud: Annotated[int, msgspec.Meta(ge=300, le=4_000_000)] = 9600
    # "\r", "\n" or "\r\n"; \r and \n are both accepted as line ends
    serial_terminator: Literal["\r", "\n", "\r\n"] = "\r"
    serial_idle_flush_ms: NonNegative = 300.0  # data then this much silence is one scan; 0: never
    serial_retry_max_s: NonNegative = 30.0

    def __post_init__(self) -> None:
        roi = self.camera_roi
        if roi and (
            len(roi) != 4
            or roi[0] + roi[2] > 1.0 + 1e-9
            or roi[1] + roi[3] > 1.0 + 1e-9
            or roi[2] <= 0
            or roi[3] <= 0
        ):
            raise ValueError(
                "camera_roi must be [x, y, w, h] fractions of the frame inside 0..1, e.g. [0.25, 0.2, 0.5, 0.6]"
            )
        if self.wedge_max_length < self.wedge_min_length:
            raise ValueError(
                f"wedge_max_length must be >= wedge_min_length ({self.wedge_max_length} < {self.wedge_min_length})"
            )

    @property
    def camera_source(self) -> int | str:
        """The device as OpenCV wants it: an index for digits, a path otherwise."""
        return int(self.camera_device) if self.camera_device.isdigit() else self.camera_device
