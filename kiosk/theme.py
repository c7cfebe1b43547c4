"""Colours of the kiosk (RGBA, 0–1): dark text on light backgrounds, every pair at least 4.5:1.

Meaning is never carried by colour alone: every coloured card also has a word ("QUÁ HẠN", "BẠN CẦN
LÀM") and a drawn symbol. ``tests/kiosk`` measures the contrast of every text on every screen.
"""

from __future__ import annotations


def hex_rgba(value: str, alpha: float = 1.0) -> tuple[float, float, float, float]:
    """ "#RRGGBB" → (r, g, b, a) floats."""
    v = value.lstrip("#")
    return (int(v[0:2], 16) / 255, int(v[2:4], 16) / 255, int(v[4:6], 16) / 255, alpha)


BG = hex_rgba("#FFFFFF")
INK = hex_rgba("#1B1B1B")
MUTED = hex_rgba("#4A4A4A")
LINE = hex_rgba("#4A4A4A")
BAR = hex_rgba("#0B3A66")  # top bar
ON_DARK = hex_rgba("#FFFFFF")
PRIMARY = hex_rgba("#0B4F8A")  # main buttons
PRIMARY_DOWN = hex_rgba("#062D50")
SECONDARY = hex_rgba("#E3EDF7")  # other buttons
SECONDARY_DOWN = hex_rgba("#C2D5EA")
ON_SECONDARY = hex_rgba("#0B3A66")
SELECTED = hex_rgba("#0B3A66")  # a chosen rating level
PANEL = hex_rgba("#F3F4F6")
WARN = hex_rgba("#FFF1C2")  # action needed, "as of" banner, idle warning
ALERT = hex_rgba("#FBE3E1")  # overdue
ON_ALERT = hex_rgba("#7A1010")
OK = hex_rgba("#E4F2E7")  # finished / nothing to do
ON_OK = hex_rgba("#14532D")
DIM = (0.0, 0.0, 0.0, 0.55)  # behind dialogs
