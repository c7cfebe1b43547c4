"""The ``[kiosk]`` configuration section: display, time limits, language, QR, printer, speech, statistics."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Seconds = Annotated[float, msgspec.Meta(ge=0.0)]


class KioskSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How the citizens' touchscreen looks and behaves (see config.example.toml, ``[kiosk]``)."""

    # display: physical size and resolution decide how many pixels 9 mm is
    display_width_mm: Annotated[float, msgspec.Meta(ge=40.0, le=3000.0)] = 154.0  # Pi 7" panel: 154 × 86
    display_height_mm: Annotated[float, msgspec.Meta(ge=30.0, le=2000.0)] = 86.0
    width_px: Annotated[int, msgspec.Meta(ge=320, le=7680)] = 800
    height_px: Annotated[int, msgspec.Meta(ge=240, le=4320)] = 480
    fullscreen: bool = True  # kiosk mode; `motcua kiosk run --windowed` overrides for development
    button_mm: Annotated[float, msgspec.Meta(ge=9.0, le=40.0)] = 12.0  # height of every touch target
    text_mm: Annotated[float, msgspec.Meta(ge=3.0, le=15.0)] = 4.2  # body text size (large by default)
    input_providers: tuple[str, ...] = (
        "mouse=mouse,disable_multitouch",
    )  # name=provider,args; one per device

    # time limits
    idle_timeout_s: Annotated[float, msgspec.Meta(ge=15.0, le=3600.0)] = 90.0
    warning_lead_s: Annotated[float, msgspec.Meta(ge=5.0, le=600.0)] = 20.0
    thanks_timeout_s: Annotated[float, msgspec.Meta(ge=3.0, le=600.0)] = 10.0
    notice_seconds: Annotated[float, msgspec.Meta(ge=2.0, le=120.0)] = 10.0
    spinner_delay_s: Annotated[float, msgspec.Meta(ge=0.0, le=5.0)] = 0.3
    lookup_timeout_s: Annotated[float, msgspec.Meta(ge=1.0, le=120.0)] = 10.0

    # language and content
    language: Literal["vi", "en"] = "vi"
    office_name: str = ""  # shown on the welcome and statistics screens
    agency_id: str = ""  # statistics and ratings from the welcome screen; empty: device.agencies[0]
    keypad_letters: tuple[str, ...] = ("H",)  # letters that occur in this office's dossier codes
    public_lookup_url: str = "https://dichvucong.gov.vn/p/home/dvc-tra-cuu-ho-so.html?ma_ho_so={code}"

    # receipt printer (ESC/POS)
    printer: Literal["none", "usb", "serial", "file"] = "none"
    printer_device: str = ""  # /dev/usb/lp0, /dev/ttyUSB0 or /dev/serial/by-id/..., or a file path
    printer_baud: Annotated[int, msgspec.Meta(ge=1200, le=921600)] = 19200
    printer_width_dots: Annotated[int, msgspec.Meta(ge=200, le=1000)] = 384  # 58 mm: 384; 80 mm: 576
    printer_text: Literal["raster", "ascii"] = "raster"  # ascii: unaccented text (fallback)
    printer_timeout_s: Annotated[float, msgspec.Meta(ge=0.5, le=60.0)] = 5.0

    # speech ("Đọc to")
    speech_enabled: bool = True
    speech_command: tuple[str, ...] = ("espeak-ng", "-v", "{voice}", "-s", "{rate}", "--", "{text}")
    speech_voice_vi: str = "vi"
    speech_voice_en: str = "en"
    speech_rate: Annotated[int, msgspec.Meta(ge=80, le=400)] = 140
    speech_timeout_s: Annotated[float, msgspec.Meta(ge=1.0, le=600.0)] = 90.0

    # statistics
    stats_refresh_s: Annotated[float, msgspec.Meta(ge=30.0, le=86400.0)] = 900.0

    def __post_init__(self) -> None:
        if self.warning_lead_s >= self.idle_timeout_s:
            raise ValueError("warning_lead_s must be shorter than kiosk.idle_timeout_s")
        if self.public_lookup_url and "{code}" not in self.public_lookup_url:
            raise ValueError('public_lookup_url must contain "{code}" (or be empty: no QR code)')
        if self.printer != "none" and not self.printer_device:
            raise ValueError("printer_device is required when kiosk.printer is not none")
        if not self.speech_command or not any("{text}" in part for part in self.speech_command):
            raise ValueError('speech_command must contain "{text}"')
        for letter in self.keypad_letters:
            if len(letter) != 1 or not ("A" <= letter <= "Z"):
                raise ValueError(f"keypad_letters: {letter!r} is not one capital letter A-Z")
        for entry in self.input_providers:
            if "=" not in entry:
                raise ValueError(f"input_providers: {entry!r} must be name=provider[,args]")

    @property
    def px_per_mm(self) -> float:
        """Pixels per millimetre of the configured display (the smaller of the two axes)."""
        return min(self.width_px / self.display_width_mm, self.height_px / self.display_height_mm)


# Common panels, used when screenshots are rendered at a resolution other than the configured one.
PANELS_MM: dict[tuple[int, int], tuple[float, float]] = {
    (800, 480): (154.0, 86.0),  # Raspberry Pi Touch Display 7"
    (1024, 600): (154.0, 90.0),  # 7" 1024×600 panels
    (1280, 800): (217.0, 136.0),  # 10.1" panels
    (1920, 1080): (477.0, 268.0),  # 21.5" kiosk monitors
}
