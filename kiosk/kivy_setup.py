"""Kivy's process-wide set-up, done before the first Kivy import that opens a window.

Environment (``KIVY_NO_ARGS`` so Kivy leaves our command line alone, a private ``KIVY_HOME``, no log
file), the window (size, fullscreen, cursor), kiosk mode (Escape does not exit; the configured input
providers only, one per physical device, no multitouch emulation dots). Window size and fullscreen
apply only when the first window is created: one process, one size.
"""

from __future__ import annotations

import os
import tempfile

from kiosk.settings import KioskSection


def prepare_environment(*, headless: bool = False, kivy_home: str | None = None) -> None:
    """Environment variables Kivy reads at import (``headless``: SDL's offscreen driver, Mesa)."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KCFG_KIVY_LOG_LEVEL", "warning")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs through logging; no own console handler
    # "free" events (answers from worker and scanner threads, scheduled with schedule_once_free) wake the
    # event loop at once; frames stay limited to maxfps, so an idle kiosk sleeps (bench/kiosk_bench.py)
    os.environ.setdefault("KIVY_CLOCK", "free_only")
    # SDL would turn SIGTERM/SIGINT into a window close request, which kiosk mode refuses: the service
    # could then not be stopped. The kiosk handles both signals itself (``stop_on_signals``).
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    if "KIVY_HOME" not in os.environ:
        home = kivy_home or os.path.join(tempfile.gettempdir(), f"motcua-kivy-{os.getuid()}")
        os.makedirs(home, mode=0o700, exist_ok=True)
        os.environ["KIVY_HOME"] = home
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "offscreen"


def stop_on_signals(app: object) -> None:
    """SIGTERM (systemd) and SIGINT (Ctrl-C) stop the app cleanly on its own thread."""
    import signal

    from kiosk.app import post

    def handler(signum: int, frame: object) -> None:
        post(lambda _dt: app.stop())  # type: ignore[attr-defined]

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def tune_malloc(*, arenas: int = 2, mmap_threshold: int = 1 << 20) -> bool:
    """Keep a long-running kiosk's memory flat (glibc only; False elsewhere).

    Few malloc arenas: lookups, the camera and speech run on several threads, and each thread's arena
    otherwise keeps its own high-water mark. A fixed mmap threshold: camera frames (MBs) are always
    mapped and returned to the system when freed, never kept in the heap. Call before threads start.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        m_arena_max, m_mmap_threshold = -8, -3  # <malloc.h>
        return bool(libc.mallopt(m_arena_max, arenas)) and bool(
            libc.mallopt(m_mmap_threshold, mmap_threshold)
        )
    except (OSError, AttributeError):
        return False


def has_display() -> bool:
    """Whether a display is there to open a window on: a desktop, or SDL's KMS/DRM (the kiosk unit)."""
    if os.environ.get("SDL_VIDEODRIVER", "") in ("kmsdrm", "x11", "wayland"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure(
    settings: KioskSection,
    *,
    windowed: bool = False,
    size: tuple[int, int] | None = None,
    headless: bool = False,
) -> None:
    """Set Kivy's configuration for the kiosk (call before the window exists and before threads start)."""
    tune_malloc()
    prepare_environment(headless=headless)
    from kivy.config import Config

    width, height = size or (settings.width_px, settings.height_px)
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "pause_on_minimize", "0")
    Config.set("kivy", "keyboard_mode", "system")  # no on-screen keyboard: the kiosk has its own keypad
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "multisamples", "0")
    kiosk_mode = settings.fullscreen and not windowed and not headless
    Config.set("graphics", "fullscreen", "auto" if kiosk_mode else "0")
    Config.set("graphics", "borderless", "1" if kiosk_mode else "0")
    Config.set("graphics", "show_cursor", "0" if kiosk_mode else "1")
    if Config.has_section("input"):
        for name in list(Config.options("input")):
            Config.remove_option("input", name)
    else:
        Config.add_section("input")
    for entry in settings.input_providers:
        name, _, provider = entry.partition("=")
        Config.set("input", name.strip(), provider.strip())
