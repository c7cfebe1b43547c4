"""The screens' Python side: properties the kv rules show, filled from the session by ``update``.

Each screen is built once; ``update`` copies the session's current content into its widgets (setting a
property to the value it already has costs nothing) and empties them when the session has forgotten the
citizen's data. The result list is a RecycleView whose row heights are measured here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.factory import Factory
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen as KivyScreen
from kivy.utils import escape_markup

from kiosk import theme
from kiosk.i18n import t
from kiosk.session import Screen, Session
from kiosk.widgets import StatsCard, text_height

if TYPE_CHECKING:
    from kiosk.app import KioskApp


class KioskScreen(KivyScreen):
    """A screen that can refresh itself from the session."""

    def update(self, app: KioskApp, session: Session) -> None:
        """Copy the session's content for this screen into the widgets."""


class WelcomeScreen(KioskScreen):
    """How to use the kiosk, with the drawn receipt."""

    receipt_qr = ObjectProperty(None, allownone=True)
    can_rate = BooleanProperty(True)
    scanner_note = StringProperty("")

    def update(self, app: KioskApp, session: Session) -> None:
        """Rating from here needs the office's agency; a scanner that is not working is said so."""
        self.can_rate = bool(session.config.agency_id)
        self.scanner_note = t(session.lang, "scanner_missing") if app.scanner_problems else ""


class KeypadScreen(KioskScreen):
    """The code display, the hint or reason line, and the keys."""

    code_markup = StringProperty("")
    hint = StringProperty("")
    error = BooleanProperty(False)

    def build_keys(self, letters: tuple[str, ...]) -> None:
        """Digits 1–9 and 0 in the grid; the configured letters beside it (made once)."""
        grid, column = self.ids.digit_keys, self.ids.letters
        grid.clear_widgets()
        column.clear_widgets()
        for key in "123456789":
            grid.add_widget(Factory.KeyButton(arg=key))
        grid.add_widget(Factory.Widget())
        grid.add_widget(Factory.KeyButton(arg="0"))
        grid.add_widget(Factory.Widget())
        for letter in letters[:4]:
            column.add_widget(Factory.KeyButton(arg=letter))

    def update(self, app: KioskApp, session: Session) -> None:
        """What is typed (with separators), what remains, and the hint or the reason."""
        typed, rest = session.keypad_text()
        self.code_markup = f"[b][color=1B1B1B]{escape_markup(typed)}[/color][/b]{escape_markup(rest)}"
        self.hint = session.keypad_hint()
        self.error = session.keypad_reason is not None


class ResultScreen(KioskScreen):
    """State card, fields and timeline, QR code, "as of" banner."""

    banner = StringProperty("")
    state = StringProperty("")
    state_kind = StringProperty("wait")
    flag = StringProperty("")
    flag_kind = StringProperty("")
    flag_text = StringProperty("")
    qr_url = StringProperty("")
    can_print = BooleanProperty(False)
    rows_width = NumericProperty(0)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._key: tuple[Any, ...] | None = None

    def update(self, app: KioskApp, session: Session) -> None:
        """Fill from the result view, or empty everything when there is no result."""
        view = session.result_view() if session.result is not None else None
        self.can_print = app.parts.printer is not None
        rows = self.ids.rows
        key = (id(session.result), session.lang, round(rows.width), round(app.fs))
        if view is None:
            if self._key is not None:
                self.banner = self.state = self.flag = self.flag_text = self.qr_url = self.flag_kind = ""
                rows.data = []
                self.ids.qr.texture = None
                self._key = None
            return
        if key == self._key:
            return
        self._key = key
        self.banner = view.banner
        self.state = view.state
        self.state_kind = view.state_kind
        self.flag = view.flag
        self.flag_kind = "overdue" if view.flag and view.flag_text else ("action" if view.flag else "")
        self.flag_text = view.flag_text
        if view.qr_url != self.qr_url:
            self.qr_url = view.qr_url
            self.ids.qr.texture = app.qr_texture_for(view.qr_url) if view.qr_url else None
        rows.data = self._rows(app, view, session.lang, rows.width)
        rows.scroll_y = 1

    def _rows(self, app: KioskApp, view: Any, lang: str, width: float) -> list[dict[str, Any]]:
        u, fs = app.u, app.fs
        inner = max(width - u * 3, u * 20)
        label_w = (inner - u * 2) * 0.36
        value_w = inner - u * 2 - label_w
        data: list[dict[str, Any]] = []
        for step in view.next_steps:  # what to do comes first: it is what the citizen came for
            h = text_height(step, fs, inner - u * 8.5, bold=True)
            data.append({"viewclass": "NextRow", "label": step, "height": max(h + u * 2, u * 7)})
        data.append(_head(t(lang, "result_title"), app, inner))
        for label, value in view.fields:
            h = max(text_height(label, fs * 0.9, label_w, bold=True), text_height(value, fs, value_w))
            data.append({"viewclass": "FieldRow", "label": label, "value": value, "height": h + u * 1.2})
        data.append(_head(t(lang, "history"), app, inner))
        steps = view.timeline or ()
        if not steps:
            h = text_height(t(lang, "no_history"), fs, value_w)
            data.append(
                {"viewclass": "FieldRow", "label": "", "value": t(lang, "no_history"), "height": h + u * 1.2}
            )
        for i, step in enumerate(steps):
            w = inner - u * 7
            h = text_height(step.when, fs * 0.85, w, bold=True) + text_height(step.action, fs, w)
            h += text_height(step.who, fs * 0.85, w)
            data.append(
                {
                    "viewclass": "StepRow",
                    "when": step.when,
                    "action": step.action,
                    "who": step.who,
                    "first": i == 0,
                    "last": i == len(steps) - 1,
                    "height": h + u * 1.2,
                }
            )
        return data


def _head(text: str, app: KioskApp, width: float) -> dict[str, Any]:
    h = text_height(text, app.fs * 1.15, width, bold=True)
    return {"viewclass": "HeadRow", "label": text, "height": h + app.u * 2}


class NotFoundScreen(KioskScreen):
    """No dossier with this code."""

    code = StringProperty("")

    def update(self, app: KioskApp, session: Session) -> None:
        """The code looked up."""
        self.code = session.last_code if session.screen is Screen.NOT_FOUND else ""


class UnavailableScreen(KioskScreen):
    """Cannot check right now."""

    code = StringProperty("")

    def update(self, app: KioskApp, session: Session) -> None:
        """The code looked up."""
        self.code = session.last_code if session.screen is Screen.UNAVAILABLE else ""


class RatingScreen(KioskScreen):
    """The two questions of 003 Art. 13."""

    subtitle = StringProperty("")
    service = NumericProperty(0)
    staff = NumericProperty(0)
    error = StringProperty("")

    def update(self, app: KioskApp, session: Session) -> None:
        """The answers chosen so far."""
        r = session.rating
        self.subtitle = t(session.lang, "rating_for", code=r.code) if r.code else ""
        self.service = r.service or 0
        self.staff = r.staff or 0
        self.error = t(session.lang, r.error) if r.error else ""


class ThanksScreen(KioskScreen):
    """Thanks for the rating."""


class StatsScreen(KioskScreen):
    """This month's and this year's figures."""

    office = StringProperty("")
    status = StringProperty("")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._cards: list[StatsCard] = []

    def update(self, app: KioskApp, session: Session) -> None:
        """Cards from the loaded figures (made once, texts updated)."""
        self.office = session.config.office_name
        cards, self.status = session.stats_view()
        if not self._cards:
            for _ in range(2):
                card = StatsCard()
                for _row in range(6):
                    card.ids.grid.add_widget(_cell(bold=False))
                    card.ids.grid.add_widget(_cell(bold=True, right=True))
                self._cards.append(card)
        box = self.ids.cards
        for i, card in enumerate(self._cards):
            view = cards[i] if i < len(cards) else None
            if view is None:
                if card.parent is not None:
                    box.remove_widget(card)
                continue
            if card.parent is None:
                box.add_widget(card)
            card.title, card.rate = view.title, view.rate
            card.on_time, card.late, card.unfinished = view.on_time, view.late, view.unfinished
            cells = list(reversed(card.ids.grid.children))
            for r, (label, value) in enumerate(view.rows):
                cells[2 * r].text = label
                cells[2 * r + 1].text = value


def _cell(*, bold: bool, right: bool = False) -> Label:
    from kivy.app import App

    app = App.get_running_app()
    label = Label(
        color=theme.INK, bold=bold, halign="right" if right else "left", valign="middle", markup=False
    )
    label.size_hint_x = 0.25 if right else 0.75
    label.font_size = app.fs if app is not None else 18
    label.bind(size=lambda w, s: setattr(w, "text_size", s))
    if app is not None:
        app.bind(fs=label.setter("font_size"))
    return label
