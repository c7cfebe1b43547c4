"""Accessibility checks over a widget tree: text contrast (WCAG 2.x ratio) and touch-target size.

Backgrounds are known because every painted widget of the kiosk draws its background from its
``bg_color`` property (``kiosk.widgets.Painted``); a text's background is the nearest opaque
``bg_color`` at or above it, else the window's clear colour. Hidden subtrees (opacity 0 or disabled)
are skipped. Kivy is not imported here: widgets are inspected by attribute.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Color = Sequence[float]
MIN_CONTRAST = 4.5
MIN_TARGET_MM = 9.0


def _channel(v: float) -> float:
    return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4


def luminance(rgb: Color) -> float:
    """WCAG relative luminance of an sRGB colour (0–1 floats)."""
    r, g, b = (_channel(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def blend(fg: Color, bg: Color) -> tuple[float, float, float]:
    """``fg`` with its alpha over an opaque ``bg``."""
    a = float(fg[3]) if len(fg) > 3 else 1.0
    return (
        fg[0] * a + bg[0] * (1 - a),
        fg[1] * a + bg[1] * (1 - a),
        fg[2] * a + bg[2] * (1 - a),
    )


def contrast(fg: Color, bg: Color) -> float:
    """Contrast ratio (1–21) of text colour ``fg`` (alpha blended) on background ``bg``."""
    shown = blend(fg, bg)
    high, low = sorted((luminance(shown), luminance(bg)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@dataclass(frozen=True)
class Finding:
    """One accessibility failure: which widget, what was measured, what is needed."""

    what: str
    widget: str
    measured: float
    needed: float

    def __str__(self) -> str:
        return f"{self.what}: {self.widget} measured {self.measured:.2f}, needs {self.needed:.2f}"


def visible_widgets(root: Any) -> Iterator[Any]:
    """``root`` and its descendants, skipping hidden (opacity 0) and disabled subtrees."""
    if getattr(root, "opacity", 1) <= 0.01 or getattr(root, "disabled", False):
        return
    if root.width <= 0 or root.height <= 0:
        return
    yield root
    for child in reversed(getattr(root, "children", [])):
        yield from visible_widgets(child)


def background_of(widget: Any, default: Color) -> Color:
    """The nearest opaque ``bg_color`` at or above ``widget``."""
    node = widget
    while node is not None:
        bg = getattr(node, "bg_color", None)
        if bg is not None and len(bg) == 4 and bg[3] >= 0.99:
            return tuple(bg)
        parent = getattr(node, "parent", None)
        node = None if parent is node else parent
    return default


def _name(widget: Any) -> str:
    text = getattr(widget, "text", "")
    shown = (text[:40] + "…") if isinstance(text, str) and len(text) > 40 else text
    return f"{type(widget).__name__}({shown!r})" if shown else type(widget).__name__


def audit(
    root: Any,
    px_per_mm: float,
    *,
    window_color: Color = (1, 1, 1, 1),
    min_contrast: float = MIN_CONTRAST,
    min_target_mm: float = MIN_TARGET_MM,
    is_target: Any = None,
) -> tuple[list[Finding], int, int]:
    """(failures, texts checked, targets checked) for everything visible under ``root``."""
    findings: list[Finding] = []
    texts = targets = 0
    for w in visible_widgets(root):
        text = getattr(w, "text", None)
        color = getattr(w, "color", None)
        if isinstance(text, str) and text.strip() and color is not None and hasattr(w, "texture_size"):
            texts += 1
            ratio = contrast(color, background_of(w, window_color))
            if ratio < min_contrast:
                findings.append(Finding("contrast", _name(w), ratio, min_contrast))
        if is_target is not None and is_target(w):
            targets += 1
            size_mm = min(w.width, w.height) / px_per_mm
            if size_mm < min_target_mm - 1e-6:
                findings.append(Finding("target", _name(w), size_mm, min_target_mm))
    return findings, texts, targets
