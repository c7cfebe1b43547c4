"""Keyboard-wedge detection: tell a USB scanner's burst of keys from a person typing on the same input.

A pure state machine fed ``(key, timestamp)``. A scanner types its payload with a few milliseconds
between keys and ends with Enter or Tab (or a configured suffix); people type at 100 ms or more. Keys
are held while they come fast, then released either as one ``WedgeScan`` or, when the run turns out to be
typing, as ``WedgeTyped`` for the UI. A configured prefix (and suffix) must be present for a scan; an
AIM identifier (``]C0``, ``]Q1``) names the symbology. Call ``poll(now)`` at ``deadline()`` so held keys
are released when input pauses.
"""

from __future__ import annotations

from dataclasses import dataclass

from barcode.events import aim_symbology
from barcode.settings import BarcodeSection

ENTER, TAB = "\n", "\t"
_TERMINATOR_KEYS = {"enter": (ENTER, "\r"), "tab": (TAB,)}


@dataclass(frozen=True)
class WedgeScan:
    """A scanner burst: the payload without prefix, suffix, terminator (the AIM id is kept)."""

    text: str
    symbology: str
    started: float
    ended: float


@dataclass(frozen=True)
class WedgeTyped:
    """Keys a person typed; pass them on to the UI unchanged (multi-character names are special keys)."""

    keys: tuple[str, ...]

    @property
    def text(self) -> str:
        """The printable characters among the keys."""
        return "".join(k for k in self.keys if len(k) == 1)


WedgeOutput = WedgeScan | WedgeTyped


class WedgeDetector:
    """Splits a key stream into scanner bursts and typing."""

    def __init__(
        self,
        *,
        max_gap_ms: float = 30.0,
        min_length: int = 6,
        max_length: int = 1024,
        prefix: str = "",
        suffix: str = "",
        terminators: tuple[str, ...] = ("enter", "tab"),
        terminator_grace: float = 3.0,
    ) -> None:
        self.max_gap = max_gap_ms / 1000
        self.min_length = min_length
        self.max_length = max_length
        self.prefix = prefix
        self.suffix = suffix
        self._terminators = {k for name in terminators for k in _TERMINATOR_KEYS[name]}
        self._grace = terminator_grace * self.max_gap  # a scanner may pause a little before Enter
        self._keys: list[str] = []
        self._first = 0.0
        self._last = 0.0
        self._flooding = False  # a run longer than max_length stays typing until input pauses

    @classmethod
    def from_settings(cls, s: BarcodeSection) -> WedgeDetector:
        """A detector configured by the ``[barcode]`` section."""
        return cls(
            max_gap_ms=s.wedge_max_gap_ms,
            min_length=s.wedge_min_length,
            max_length=s.wedge_max_length,
            prefix=s.wedge_prefix,
            suffix=s.wedge_suffix,
            terminators=s.wedge_terminators,
        )

    def deadline(self) -> float | None:
        """When ``poll`` must be called to release held keys; None when nothing is held."""
        if not self._keys:
            return None
        return self._last + (self._grace if self._could_be_scan() else self.max_gap)

    def poll(self, now: float) -> list[WedgeOutput]:
        """Release held keys if input has paused long enough."""
        deadline = self.deadline()
        if deadline is None or now <= deadline:
            return []
        return self._end_without_terminator()

    def feed(self, key: str, at: float) -> list[WedgeOutput]:
        """One key (a character, "\\n" for Enter, "\\t" for Tab, or a special key's name) at ``at`` seconds."""
        out = self.poll(at)
        if self._keys and at - self._last > self.max_gap and key not in self._terminators:
            out += self._end_without_terminator()
        if self._flooding:
            if at - self._last <= self.max_gap and key not in self._terminators:
                self._last = at
                out.append(WedgeTyped((key,)))
                return out
            self._flooding = False
        if key in self._terminators:
            if self._keys and at - self._last <= self._grace and self._could_be_scan():
                out.append(self._scan(self._payload(), at))
            else:
                out.append(self._typed(extra=key))
            return out
        if len(key) != 1:  # a special key (arrow, backspace): never part of a scan
            out.append(self._typed(extra=key))
            return out
        if not self._keys:
            self._first = at
        self._keys.append(key)
        self._last = at
        if self.suffix and not self._terminators and self._could_be_scan():
            out.append(self._scan(self._payload(), at))
        elif len(self._keys) > self.max_length:
            out.append(self._typed())
            self._flooding = True
        return out

    def _text(self) -> str:
        return "".join(self._keys)

    def _payload(self) -> str:
        text = self._text()
        if self.prefix:
            text = text[len(self.prefix) :]
        if self.suffix:
            text = text[: -len(self.suffix)]
        return text

    def _could_be_scan(self) -> bool:
        """The held keys came fast (by construction), carry the delimiters, and are long enough."""
        text = self._text()
        if self.prefix and not text.startswith(self.prefix):
            return False
        if self.suffix and not (
            text.endswith(self.suffix) and len(text) >= len(self.prefix) + len(self.suffix)
        ):
            return False
        payload = self._payload()
        return len(aim_symbology(payload)[1]) >= self.min_length

    def _end_without_terminator(self) -> list[WedgeOutput]:
        if not self._terminators and self._could_be_scan():
            return [self._scan(self._payload(), self._last)]
        return [self._typed()] if self._keys else []

    def _scan(self, payload: str, at: float) -> WedgeScan:
        symbology = aim_symbology(payload)[0]
        scan = WedgeScan(payload, symbology, self._first, at)
        self._keys.clear()
        return scan

    def _typed(self, extra: str = "") -> WedgeTyped:
        keys = tuple(self._keys) + ((extra,) if extra else ())
        self._keys.clear()
        return WedgeTyped(keys)
