"""The kiosk's state machine, without any presentation: which screen, what it shows, what to do next.

Every citizen action and every answer from a worker thread becomes one method call here (on the UI
thread); methods that need I/O return an *effect* (start a lookup, save a rating, load statistics,
speak) that the app runs off the UI thread and answers with the effect's ``ticket``. Answers whose
ticket is no longer current (the citizen moved on, or the idle timeout reset the screen) are dropped.
The idle timeout warns first, then returns to the welcome screen and forgets the citizen's data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dossier.codes import CodeParser, DossierCode
from dossier.errors import InvalidCode
from dossier.lookup import LookupResult, Outcome
from kiosk import keypad
from kiosk.i18n import t
from kiosk.keypad import Reason
from kiosk.ports import Clock, Scan
from kiosk.present import PeriodView, ResultView, period_view, result_view, short_time


class Screen(Enum):
    """The kiosk's screens."""

    WELCOME = "welcome"
    KEYPAD = "keypad"
    RESULT = "result"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    RATING = "rating"
    THANKS = "thanks"
    STATS = "stats"


@dataclass(frozen=True)
class StartLookup:
    """Run the lookup of ``code`` off the UI thread, then call ``lookup_done(ticket, result)``."""

    ticket: int
    code: str


@dataclass(frozen=True)
class SaveRating:
    """Store ``rating`` durably off the UI thread, then call ``rating_saved(ticket, ok)``."""

    ticket: int
    rating: dict[str, Any]


@dataclass(frozen=True)
class LoadStats:
    """Load the statistics off the UI thread, then call ``stats_loaded(ticket, answer)``."""

    ticket: int


@dataclass(frozen=True)
class Speak:
    """Say ``text`` in ``lang`` (the speaker has its own thread)."""

    text: str
    lang: str


@dataclass(frozen=True)
class Hush:
    """Stop speaking (the screen the speech was about is gone)."""


Effect = StartLookup | SaveRating | LoadStats | Speak | Hush


@dataclass(frozen=True)
class StatsAnswer:
    """Statistics for this month and this year, with where they came from."""

    month: dict[str, Any] | None
    year: dict[str, Any] | None
    fetched_at: Any = None  # aware datetime of the figures, None when there are none
    cached: bool = False  # True: central did not answer, these are saved figures
    problem: str = ""  # "no_agency" | "none" | ""


@dataclass(frozen=True)
class SessionConfig:
    """The time limits and content options the session needs (from ``KioskSection`` and ``[render]``)."""

    idle_timeout_s: float = 90.0
    warning_lead_s: float = 20.0
    thanks_timeout_s: float = 10.0
    notice_seconds: float = 10.0
    spinner_delay_s: float = 0.3
    lookup_timeout_s: float = 10.0
    language: str = "vi"
    mask_names: bool = True
    url_template: str = ""
    agency_id: str = ""
    office_name: str = ""
    letters: tuple[str, ...] = ("H",)


@dataclass
class _Busy:
    ticket: int
    code: str
    since: float


@dataclass
class RatingDraft:
    """Answers chosen so far (1 Rất hài lòng, 2 Hài lòng, 3 Chưa hài lòng) and what is rated."""

    code: str = ""
    agency_id: str = ""
    service: int | None = None
    staff: int | None = None
    error: str = ""  # text key when the last submit failed


@dataclass
class _Notice:
    reason: Reason
    until: float


class Session:
    """One kiosk's state; all methods run on the UI thread and never block."""

    def __init__(self, config: SessionConfig, parser: CodeParser, clock: Clock) -> None:
        self.config = config
        self.parser = parser
        self.clock = clock
        self.screen = Screen.WELCOME
        self.lang = config.language
        self.raw = ""  # keypad input: digits and letters, no separators
        self.keypad_reason: Reason | None = None
        self.result: LookupResult | None = None
        self.last_code = ""
        self._last: DossierCode | None = None
        self.busy: _Busy | None = None
        self.rating = RatingDraft()
        self.stats: StatsAnswer | None = None
        self.warning = False
        self.notice: _Notice | None = None
        self._ticket = 0
        self._saving: int | None = None
        self._stats_ticket: int | None = None
        self._last_activity = clock.monotonic()
        self._entered = self._last_activity

    # --- activity and time --------------------------------------------------------------------------

    def touch(self) -> None:
        """The citizen did something: the idle clock restarts and a shown warning goes away."""
        self._last_activity = self.clock.monotonic()
        self.warning = False

    def has_citizen_data(self) -> bool:
        """Whether anything of a citizen is on screen or in memory (the idle timeout applies)."""
        return (
            self.screen is not Screen.WELCOME
            or bool(self.raw)
            or self.result is not None
            or self.lang != self.config.language
            or self.busy is not None
        )

    def idle_left(self) -> float:
        """Seconds until the idle reset (counting from the last activity)."""
        return self._last_activity + self.config.idle_timeout_s - self.clock.monotonic()

    def tick(self) -> list[Effect]:
        """Advance time: lookup deadline, notices, the idle warning and reset, the thanks screen."""
        now = self.clock.monotonic()
        effects: list[Effect] = []
        if self.notice and now >= self.notice.until:
            self.notice = None
        if self.busy is not None:
            if now - self.busy.since > self.config.lookup_timeout_s:
                code = self.busy.code
                self.busy = None
                self.result = LookupResult(code, Outcome.UNAVAILABLE, None, "none", None, None, "timeout")
                self._enter(Screen.UNAVAILABLE)
            else:
                self._last_activity = now  # waiting for an answer is not idleness
            return effects
        if self.screen is Screen.THANKS and now - self._entered >= self.config.thanks_timeout_s:
            self.reset()
            return [Hush()]
        if not self.has_citizen_data():
            return effects
        left = self.idle_left()
        if left <= self.config.warning_lead_s and not self.warning:
            # never clear the screen unannounced: the warning always gets its full lead time
            if left < self.config.warning_lead_s:
                self._last_activity = now - (self.config.idle_timeout_s - self.config.warning_lead_s)
            self.warning = True
            effects.append(Speak(self.warning_text(), self.lang))
        elif left <= 0:
            self.reset()
            effects.append(Hush())
        return effects

    def warning_text(self) -> str:
        """The idle warning's question and countdown."""
        left = max(0, round(self.idle_left()))
        return f"{t(self.lang, 'more_time')} {t(self.lang, 'more_time_text', n=left)}"

    def spinner_visible(self) -> bool:
        """A lookup has been running for longer than the spinner delay."""
        return (
            self.busy is not None and self.clock.monotonic() - self.busy.since >= self.config.spinner_delay_s
        )

    def reset(self) -> None:
        """Back to the welcome screen, forgetting everything about the citizen."""
        self._ticket += 1  # answers still on their way are dropped
        self.raw = ""
        self.keypad_reason = None
        self.result = None
        self.last_code = ""
        self._last = None
        self.busy = None
        self.rating = RatingDraft()
        self.stats = None
        self.warning = False
        self.notice = None
        self._saving = None
        self._stats_ticket = None
        self.lang = self.config.language
        self._enter(Screen.WELCOME)
        self._last_activity = self.clock.monotonic()

    def _enter(self, screen: Screen) -> None:
        self.screen = screen
        self._entered = self.clock.monotonic()

    def _next_ticket(self) -> int:
        self._ticket += 1
        return self._ticket

    # --- navigation ---------------------------------------------------------------------------------

    def home(self) -> list[Effect]:
        """The "start" button: the welcome screen, the citizen's data forgotten, language kept."""
        lang = self.lang
        self.reset()
        self.lang = lang
        return [Hush()]

    def toggle_language(self) -> None:
        """Vietnamese ↔ English."""
        self.lang = "en" if self.lang == "vi" else "vi"

    def open_keypad(self, prefill: str = "") -> None:
        """Show the keypad, optionally with the last code typed."""
        self.raw = prefill[: keypad.MAX_KEYS]
        self.keypad_reason = None
        self._enter(Screen.KEYPAD)

    # --- keypad -------------------------------------------------------------------------------------

    def key(self, char: str) -> None:
        """A keypad key (a digit or a configured letter); other characters are ignored."""
        char = char.upper()
        if len(char) != 1 or not (char.isdigit() or char in self.config.letters or "A" <= char <= "Z"):
            return
        if len(self.raw) < keypad.MAX_KEYS:
            self.raw += char
        self.keypad_reason = None

    def delete(self) -> None:
        """Delete the last character."""
        self.raw = self.raw[:-1]
        self.keypad_reason = None

    def clear(self) -> None:
        """Delete everything typed."""
        self.raw = ""
        self.keypad_reason = None

    def keypad_text(self) -> tuple[str, str]:
        """(typed part with separators, pattern still to fill)."""
        return keypad.display(self.raw)

    def keypad_hint(self) -> str:
        """The line under the code: the reason it is not valid, or what comes next."""
        if self.keypad_reason is not None:
            return t(self.lang, self.keypad_reason.key, **self.keypad_reason.params)
        slot = keypad.next_slot(self.raw)
        if not self.raw:
            return t(self.lang, "keypad_help")
        if slot == "L":
            return t(
                self.lang,
                "keypad_next_letter",
                example=self.config.letters[0] if self.config.letters else "H",
            )
        if slot == "D":
            return t(self.lang, "keypad_left", n=keypad.NATIONAL_LENGTH - len(self.raw))
        if len(self.raw) == keypad.NATIONAL_LENGTH and keypad.follows_national(self.raw):
            return t(self.lang, "keypad_complete")
        return ""

    def submit(self) -> list[Effect]:
        """Look up what was typed, or say in plain words why it is not a code."""
        checked = keypad.check(self.raw, self.parser)
        if isinstance(checked, Reason):
            self.keypad_reason = checked
            return []
        return [self._start(checked)]

    # --- lookups ------------------------------------------------------------------------------------

    def scan(self, scan: Scan) -> list[Effect]:
        """A scanner read from any screen: a code starts a lookup; anything else shows why not."""
        self.touch()
        if scan.code is None:
            reason = keypad.explain(scan.reason)
            if reason.key == "why_not_code":
                reason = Reason("scan_not_code")
            self.notice = _Notice(reason, self.clock.monotonic() + self.config.notice_seconds)
            return []
        try:
            code = self.parser.parse(scan.code)
        except InvalidCode:
            self.notice = _Notice(
                Reason("scan_not_code"), self.clock.monotonic() + self.config.notice_seconds
            )
            return []
        return [Hush(), self._start(code)]

    def _start(self, code: DossierCode) -> StartLookup:
        self.notice = None
        self.warning = False
        self.busy = _Busy(self._next_ticket(), code.value, self.clock.monotonic())
        self.last_code = code.value
        self._last = code
        return StartLookup(self.busy.ticket, code.value)

    def retry(self) -> list[Effect]:
        """Look up the last code again (the "try again" button)."""
        if self._last is None:
            return []
        return [self._start(self._last)]

    def lookup_done(self, ticket: int, result: LookupResult) -> bool:
        """The answer of lookup ``ticket``; False (ignored) when it is no longer awaited."""
        if self.busy is None or self.busy.ticket != ticket:
            return False
        self.busy = None
        self.result = result
        self.touch()
        if result.outcome is Outcome.FOUND and result.dossier is not None:
            self.raw = ""
            self.keypad_reason = None
            self._enter(Screen.RESULT)
        elif result.outcome is Outcome.NOT_FOUND:
            self._enter(Screen.NOT_FOUND)
        else:
            self._enter(Screen.UNAVAILABLE)
        return True

    def result_view(self) -> ResultView | None:
        """The result screen's content in the current language (None without a found dossier)."""
        r = self.result
        if r is None or r.outcome is not Outcome.FOUND or r.dossier is None:
            return None
        return result_view(
            r,
            self.lang,
            self.clock.now(),
            mask_names=self.config.mask_names,
            url_template=self.config.url_template,
        )

    def retype(self) -> None:
        """From "not found": the keypad with the code looked up, to correct it."""
        prefill = "".join(c for c in self.last_code if c.isalnum())
        self.result = None
        self.open_keypad(prefill)

    # --- notices ------------------------------------------------------------------------------------

    def show_notice(self, key: str, **params: Any) -> None:
        """A short message at the bottom of the screen (printer missing, speaker missing, ...)."""
        self.notice = _Notice(Reason(key, params), self.clock.monotonic() + self.config.notice_seconds)

    def notice_text(self) -> str:
        """The current notice in the current language, or ""."""
        if self.notice is None:
            return ""
        return t(self.lang, self.notice.reason.key, **self.notice.reason.params)

    # --- rating (003 Art. 13) -----------------------------------------------------------------------

    def open_rating(self) -> None:
        """Rate the service: for the dossier just shown, or for the office from the welcome screen."""
        d = self.result.dossier if self.result is not None else None
        if d is not None:
            agency = d.agency_id
            if not agency:
                try:
                    agency = self.parser.parse(d.code).agency
                except InvalidCode:
                    agency = ""
            self.rating = RatingDraft(code=d.code, agency_id=agency or self.config.agency_id)
        else:
            self.rating = RatingDraft(agency_id=self.config.agency_id)
        self._enter(Screen.RATING)

    def choose(self, question: str, level: int) -> None:
        """Answer ``question`` ("service" or "staff") with ``level`` 1–3."""
        if level not in (1, 2, 3):
            return
        if question == "service":
            self.rating.service = level
        elif question == "staff":
            self.rating.staff = level
        self.rating.error = ""

    def submit_rating(self) -> list[Effect]:
        """Save the rating (durably, off the UI thread); both questions must be answered."""
        r = self.rating
        if r.service is None or r.staff is None:
            r.error = "rating_incomplete"
            return []
        if self._saving is not None:
            return []
        self._saving = self._next_ticket()
        record = {
            "id": str(uuid.uuid4()),
            "agency_id": r.agency_id,
            "code": r.code,
            "service": r.service,
            "staff": r.staff,
            "rated_at": self.clock.now().isoformat(timespec="seconds"),
        }
        return [SaveRating(self._saving, record)]

    def rating_saved(self, ticket: int, ok: bool) -> None:
        """The store's answer: thanks on success; on failure the citizen is told and may retry."""
        if ticket != self._saving:
            return
        self._saving = None
        if ok:
            self.rating = RatingDraft()
            self._enter(Screen.THANKS)
        else:
            self.rating.error = "rating_not_saved"

    # --- statistics (003 Art. 14) -------------------------------------------------------------------

    def open_stats(self) -> list[Effect]:
        """Show the statistics screen and load the figures."""
        self._enter(Screen.STATS)
        self.stats = None
        self._stats_ticket = self._next_ticket()
        return [LoadStats(self._stats_ticket)]

    def stats_loaded(self, ticket: int, answer: StatsAnswer) -> None:
        """The figures (or why there are none)."""
        if ticket == self._stats_ticket:
            self.stats = answer

    def stats_view(self) -> tuple[list[PeriodView], str]:
        """(cards, status line) for the statistics screen."""
        a = self.stats
        if a is None:
            return [], t(self.lang, "stats_loading")
        if a.problem == "no_agency":
            return [], t(self.lang, "stats_no_agency")
        cards = [period_view(d, self.lang) for d in (a.month, a.year) if d]
        if not cards:
            return [], t(self.lang, "stats_none")
        when = short_time(a.fetched_at) if a.fetched_at else ""
        return cards, t(self.lang, "stats_cached" if a.cached else "stats_as_of", when=when)

    # --- speech -------------------------------------------------------------------------------------

    def speech(self) -> str:
        """What "Đọc to" says on the current screen: its instructions and its content."""
        lang = self.lang
        s = self.screen
        if self.warning:
            return self.warning_text()
        if s is Screen.WELCOME:
            return f"{t(lang, 'welcome_title')}. {t(lang, 'welcome_howto')} {t(lang, 'welcome_picture')}."
        if s is Screen.KEYPAD:
            typed = self.keypad_text()[0]
            spelled = " ".join(typed) if typed else t(lang, "keypad_empty")
            return f"{t(lang, 'keypad_title')}. {spelled}. {self.keypad_hint()}"
        if s is Screen.RESULT:
            view = self.result_view()
            return view.spoken(lang) if view else ""
        if s is Screen.NOT_FOUND:
            return f"{t(lang, 'not_found_title')}. {t(lang, 'not_found_text', code=self.last_code)}"
        if s is Screen.UNAVAILABLE:
            return f"{t(lang, 'unavailable_title')}. {t(lang, 'unavailable_text', code=self.last_code)}"
        if s is Screen.RATING:
            levels = ", ".join(t(lang, f"level_{i}") for i in (1, 2, 3))
            return (
                f"{t(lang, 'rating_title')}. {t(lang, 'q_service')} {levels}. {t(lang, 'q_staff')} {levels}."
            )
        if s is Screen.THANKS:
            return f"{t(lang, 'thanks_title')}. {t(lang, 'thanks_text')}"
        cards, status = self.stats_view()
        spoken = [t(lang, "stats_title")]
        for card in cards:
            spoken.append(card.title + ": " + ", ".join(f"{k} {v}" for k, v in card.rows) + ". " + card.rate)
        spoken.append(status)
        return ". ".join(spoken)
