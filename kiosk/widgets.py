"""The kiosk's widgets (their look is in ``kv/common.kv``): painted boxes, buttons, the receipt picture.

Every widget that paints a background does it from ``bg_color`` (``Painted``), so the accessibility
check knows what each text is drawn on. Widgets are created once per screen and updated in place.
"""

from __future__ import annotations

import io
from typing import Any

from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.core.text import Label as CoreLabel
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.recycleview import RecycleView
from kivy.uix.widget import Widget


class Painted:
    """Mixin: a background colour (``bg_color``), optional rounded corners and border."""

    bg_color = ListProperty([0.0, 0.0, 0.0, 0.0])
    border_color = ListProperty([0.0, 0.0, 0.0, 0.0])
    border_width = NumericProperty(0)
    radius = NumericProperty(0)


class PBox(Painted, BoxLayout):
    """A painted box layout."""


class PFloat(Painted, FloatLayout):
    """A painted float layout (the root, overlays)."""


class Overlay(PFloat):
    """A full-screen layer (busy, idle warning): while shown it takes every touch, hidden it takes none."""

    shown = BooleanProperty(False)
    outside = StringProperty("")  # the app's action for a touch on no button of the layer

    def on_touch_down(self, touch: Any) -> bool:
        """Only while shown; a touch that no button takes runs ``outside``."""
        if not self.shown:
            return False
        if not super().on_touch_down(touch) and self.outside:
            from kivy.app import App

            app = App.get_running_app()
            if app is not None:
                app.act(self.outside)
        return True

    def on_touch_move(self, touch: Any) -> bool:
        """Only while shown."""
        if not self.shown:
            return False
        super().on_touch_move(touch)
        return True

    def on_touch_up(self, touch: Any) -> bool:
        """Only while shown."""
        if not self.shown:
            return False
        super().on_touch_up(touch)
        return True


class Text(Label):
    """Wrapping body text; its height follows its content."""


class Title(Text):
    """A heading."""


class PText(Painted, Text):
    """Text on its own painted background."""


class KButton(ButtonBehavior, Painted, Label):
    """A touch button: ``kind`` primary (dark) or secondary (light); never smaller than the target size."""

    kind = StringProperty("secondary")
    action = StringProperty("")  # what the app does on release (see KioskApp.act)
    arg = StringProperty("")


class NoticeBar(ButtonBehavior, Painted, Text):
    """A message at the bottom of the screen; touching it dismisses it. Empty, it takes no touches."""

    def on_touch_down(self, touch: Any) -> bool:
        """Only while a message is shown."""
        if not self.text:
            return False
        return bool(super().on_touch_down(touch))


class TopBar(PBox):
    """Start, title, "Đọc to" and the language switch: on every screen."""


class KioskRoot(PFloat):
    """The window's content: top bar, screens, notice bar and overlays; every touch is activity."""

    def on_touch_down(self, touch: Any) -> bool:
        """Restart the idle clock, then dispatch as usual."""
        from kivy.app import App

        app = App.get_running_app()
        if app is not None and hasattr(app, "activity") and not getattr(app, "warning", False):
            app.activity()  # while the idle warning is shown, its own buttons decide
        return bool(super().on_touch_down(touch))


class ChoiceButton(KButton):
    """A rating level: ``selected`` shows a drawn check mark, a thick border and the word "đã chọn"."""

    selected = BooleanProperty(False)
    caption = StringProperty("")
    mark = StringProperty("")


class SpinnerArc(Widget):
    """A turning arc (busy indicator), animated only while visible."""

    angle = NumericProperty(0)
    active = BooleanProperty(False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._event: Any = None
        self.bind(active=self._toggle)

    def _toggle(self, *_: Any) -> None:
        if self.active and self._event is None:
            self._event = Clock.schedule_interval(self._turn, 1 / 30)
        elif not self.active and self._event is not None:
            self._event.cancel()
            self._event = None

    def _turn(self, dt: float) -> None:
        self.angle = (self.angle + 360 * dt) % 360


class ReceiptPicture(FloatLayout):
    """A drawn receipt ("Giấy tiếp nhận hồ sơ và hẹn trả kết quả") showing where the code is."""

    qr_texture = ObjectProperty(None, allownone=True)
    paper_w = NumericProperty(0)
    paper_h = NumericProperty(0)
    paper_x = NumericProperty(0)
    paper_y = NumericProperty(0)
    qr_size = NumericProperty(0)


class QRView(Image):
    """A QR code image, kept sharp when scaled (nearest-neighbour magnification)."""


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as a small PNG in memory (segno; one pixel per module, made off the UI thread)."""
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=1, border=2)
    return buf.getvalue()


def png_texture(png: bytes) -> Any:
    """A texture from PNG bytes (``ext`` is required), magnified without blur."""
    texture = CoreImage(io.BytesIO(png), ext="png").texture
    texture.mag_filter = "nearest"
    texture.min_filter = "nearest"
    return texture


def qr_texture(url: str) -> Any:
    """The QR code texture of ``url``."""
    return png_texture(qr_png(url))


class FieldRow(BoxLayout):
    """A result field: label and value (a RecycleView row)."""

    label = StringProperty("")
    value = StringProperty("")


class HeadRow(BoxLayout):
    """A section heading inside the result list."""

    label = StringProperty("")


class StepRow(BoxLayout):
    """A timeline step: when, what, who, with a drawn dot and line."""

    when = StringProperty("")
    action = StringProperty("")
    who = StringProperty("")
    first = BooleanProperty(False)
    last = BooleanProperty(False)


class NextRow(Painted, BoxLayout):
    """What to do next, on a highlighted panel with a drawn "!" mark."""

    label = StringProperty("")


class ResultList(RecycleView):
    """The scrolling list of fields, timeline and next steps (widgets recycled, never rebuilt)."""


class StatsCard(PBox):
    """One period's figures, with a bar whose parts are also written out in numbers."""

    title = StringProperty("")
    rows = ListProperty([])
    rate = StringProperty("")
    on_time = NumericProperty(0)
    late = NumericProperty(0)
    unfinished = NumericProperty(0)


def text_height(
    text: str, font_size: float, width: float, *, bold: bool = False, font_name: str = "Roboto"
) -> int:
    """The height ``text`` takes when wrapped at ``width`` (layout only, no texture is made)."""
    if not text:
        return 0
    label = CoreLabel(
        text=text, font_size=font_size, text_size=(max(width, 10), None), bold=bold, font_name=font_name
    )
    label.resolve_font_name()
    _, height = label.render()
    return int(height)
