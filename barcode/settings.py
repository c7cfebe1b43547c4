"""The ``[barcode]`` configuration section: symbologies, decoding budget, camera, keyboard wedge, serial."""

from __future__ import annotations

from dataclasses import dataclass

from dossier.errors import ConfigError

SYMBOLOGIES = ("qr", "code128", "datamatrix", "pdf417")
DECODERS = ("zxing", "zbar", "opencv")


@dataclass(frozen=True)
class BarcodeSection:
    """How receipts' barcodes are read: which symbologies, by which decoders, from which devices."""

    # what to decode
    symbologies: tuple[str, ...] = ("qr", "code128")
    # the first decodes every frame; the others are second opinions on hard frames
    decoders: tuple[str, ...] = ("zxing", "zbar")
    frame_budget_ms: float = 40.0  # total decode time allowed per frame, fallbacks included
    fallbacks: bool = True  # contrast / upscale / sharpen / binarise retries while budget remains

    # camera
    camera_enabled: bool = False
    camera_device: str = "0"  # V4L2 index ("0") or path ("/dev/video0", "/dev/v4l/by-id/...")
    camera_width: int = 1280
    camera_height: int = 720
    camera_fps: int = 15  # capture rate asked of the camera
    camera_roi: tuple[float, ...] = ()  # [x, y, w, h] as fractions of the frame; empty: whole frame
    decode_fps: float = 8.0  # at most this many frames decoded per second
    cpu_share: float = 0.5  # decoding may use at most this fraction of one core on average
    dedupe_seconds: float = 3.0  # the same code is reported once within this window
    camera_retry_max_s: float = 30.0  # longest wait between attempts to reopen a vanished camera
    camera_read_timeout_s: float = 2.0

    # keyboard wedge (USB scanner typing like a keyboard)
    wedge_enabled: bool = False
    wedge_max_gap_ms: float = 30.0  # keys closer than this belong to a scanner burst
    wedge_min_length: int = 6  # shorter bursts are treated as typing
    wedge_max_length: int = 1024
    wedge_prefix: str = ""  # characters the scanner is configured to send first (stripped)
    wedge_suffix: str = ""  # characters the scanner is configured to send last (stripped)
    wedge_terminators: tuple[str, ...] = ("enter", "tab")  # empty: a burst ends after a quiet gap
    wedge_evdev_device: str = ""  # e.g. /dev/input/by-id/usb-...-event-kbd; empty: no exclusive read

    # serial scanner
    serial_enabled: bool = False
    serial_port: str = ""  # e.g. /dev/ttyACM0 or /dev/serial/by-id/...
    serial_baud: int = 9600
    serial_terminator: str = "\r"  # "\r", "\n" or "\r\n"; \r and \n are both accepted as line ends
    serial_idle_flush_ms: float = 300.0  # data followed by this much silence counts as one scan; 0: never
    serial_retry_max_s: float = 30.0

    def __post_init__(self) -> None:
        for name in self.symbologies:
            if name not in SYMBOLOGIES:
                raise ConfigError(
                    f"barcode.symbologies: unknown symbology {name!r}",
                    hint=f"known: {', '.join(SYMBOLOGIES)}",
                )
        if not self.symbologies:
            raise ConfigError("barcode.symbologies must name at least one symbology")
        for name in self.decoders:
            if name not in DECODERS:
                raise ConfigError(
                    f"barcode.decoders: unknown decoder {name!r}", hint=f"known: {', '.join(DECODERS)}"
                )
        if not self.decoders:
            raise ConfigError("barcode.decoders must name at least one decoder")
        if self.camera_roi and (
            len(self.camera_roi) != 4
            or not all(0.0 <= v <= 1.0 for v in self.camera_roi)
            or self.camera_roi[0] + self.camera_roi[2] > 1.0 + 1e-9
            or self.camera_roi[1] + self.camera_roi[3] > 1.0 + 1e-9
            or self.camera_roi[2] <= 0
            or self.camera_roi[3] <= 0
        ):
            raise ConfigError(
                "barcode.camera_roi must be [x, y, w, h] fractions of the frame inside 0..1",
                hint="e.g. [0.25, 0.2, 0.5, 0.6]",
            )
        for key in (
            "frame_budget_ms",
            "decode_fps",
            "cpu_share",
            "wedge_max_gap_ms",
            "camera_read_timeout_s",
        ):
            if getattr(self, key) <= 0:
                raise ConfigError(f"barcode.{key} must be greater than 0")
        for key in ("dedupe_seconds", "serial_idle_flush_ms", "camera_retry_max_s", "serial_retry_max_s"):
            if getattr(self, key) < 0:
                raise ConfigError(f"barcode.{key} must not be negative")
        for name in self.wedge_terminators:
            if name not in ("enter", "tab"):
                raise ConfigError(f"barcode.wedge_terminators: {name!r} is not enter or tab")
        if self.serial_terminator not in ("\r", "\n", "\r\n"):
            raise ConfigError('barcode.serial_terminator must be "\\r", "\\n" or "\\r\\n"')
        if self.camera_width <= 0 or self.camera_height <= 0 or self.camera_fps <= 0:
            raise ConfigError("barcode.camera_width, camera_height and camera_fps must be positive")
        if (
            self.serial_baud <= 0
            or self.wedge_min_length < 1
            or self.wedge_max_length < self.wedge_min_length
        ):
            raise ConfigError("barcode.serial_baud, wedge_min_length and wedge_max_length must be sensible")

    @property
    def camera_source(self) -> int | str:
        """The device as OpenCV wants it: an index for digits, a path otherwise."""
        return int(self.camera_device) if self.camera_device.isdigit() else self.camera_device
