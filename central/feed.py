"""The changes feed: opaque signed cursors, ETags and pre-serialised pages.

A cursor is urlsafe base64 of (format, mode, store epoch, sequence, agency-set hash) plus a truncated
HMAC with the store's secret key, so clients cannot forge one. A cursor from another store epoch (a
reset database) or for another agency set is *stale* (410: resnapshot); a damaged one is *bad* (400).
Snapshot-mode cursors (handed out while a client pages through a snapshot) stay valid; incremental
cursors below the change log's horizon are stale.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from central.errors import BadCursor, StaleCursor
from central.store import CentralStore

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
SNAPSHOT = 0
INCREMENTAL = 1
_FORMAT = 1
_HEAD = struct.Struct(">BB8sQ8s")
_MAC_BYTES = 12


@dataclass(frozen=True, slots=True)
class FeedAnswer:
    """What the HTTP layer sends: 304 (``body`` empty) or 200 with a pre-serialised JSON body."""

    status: int
    body: bytes
    etag: str


def agency_key(agencies: Sequence[str]) -> bytes:
    """8-byte digest of an agency set (order and duplicates do not matter)."""
    return hashlib.sha256("\x1f".join(sorted(set(agencies))).encode()).digest()[:8]


class CursorCodec:
    """Encodes and checks cursors for one store epoch and key."""

    def __init__(self, epoch: str, key: bytes) -> None:
        self.epoch = bytes.fromhex(epoch)
        self.key = key

    def encode(self, mode: int, seq: int, agencies: Sequence[str]) -> str:
        """An opaque cursor text."""
        head = _HEAD.pack(_FORMAT, mode, self.epoch, seq, agency_key(agencies))
        mac = hmac.new(self.key, head, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(head + mac).decode().rstrip("=")

    def decode(self, text: str, agencies: Sequence[str]) -> tuple[int, int]:
        """(mode, seq) of a cursor; raises ``BadCursor`` or ``StaleCursor``."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise BadCursor("cursor is damaged", hint="restart the feed without a cursor") from None
        if len(raw) != _HEAD.size + _MAC_BYTES or raw[0] != _FORMAT:
            raise BadCursor("cursor is damaged", hint="restart the feed without a cursor")
        fmt, mode, epoch, seq, akey = _HEAD.unpack(raw[: _HEAD.size])
        if epoch != self.epoch:
            raise StaleCursor("cursor is from an earlier database of the service; resnapshot")
        mac = hmac.new(self.key, raw[: _HEAD.size], hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, raw[_HEAD.size :]) or mode not in (SNAPSHOT, INCREMENTAL):
            raise BadCursor("cursor was not issued by this service", hint="restart the feed without a cursor")
        if akey != agency_key(agencies):
            raise StaleCursor("cursor was issued for another set of agencies; resnapshot")
        return mode, seq


def make_etag(
    store: CentralStore, agencies: Sequence[str], seq: int, latest: int, horizon: int, variant: str = ""
) -> str:
    """Entity tag of a feed answer after ``seq`` (same agencies, nothing newer, same horizon → same tag).

    ``variant`` names the representation (the citizen-facing view differs from the full one).
    """
    text = f"{store.epoch}|{'|'.join(sorted(set(agencies)))}|{seq}|{latest}|{horizon}|{variant}"
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:24] + '"'


def etag_matches(header: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weak comparison, ``*`` matches)."""
    for part in header.split(","):
        tag = part.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def changes_page(
    store: CentralStore,
    codec: CursorCodec,
    agencies: Sequence[str],
    cursor: str | None,
    limit: int,
    if_none_match: str = "",
    view: Callable[[bytes], bytes] | None = None,
) -> FeedAnswer:
    """One page of the changes feed; raises ``BadCursor`` / ``StaleCursor``.

    ``view`` rewrites each stored body (the citizen-facing view of open reads); None sends them as stored.
    """
    agencies = sorted(set(agencies))
    horizon = store.horizon
    if cursor:
        mode, after = codec.decode(cursor, agencies)
        if mode == INCREMENTAL and after < horizon:
            raise StaleCursor("cursor is older than the retained change log; resnapshot")
    else:
        mode, after = SNAPSHOT, 0
    latest = store.latest_seq(agencies)
    if after >= latest:  # caught up: the answer is empty and stable until something changes
        etag = make_etag(store, agencies, after, latest, horizon, "public" if view else "")
        if if_none_match and etag_matches(if_none_match, etag):
            return FeedAnswer(304, b"", etag)
        return FeedAnswer(200, _body([], codec.encode(INCREMENTAL, after, agencies), False), etag)
    rows = store.page(after, agencies, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1][0] if rows else after
    latest = max(latest, last)
    out_mode = SNAPSHOT if (more and mode == SNAPSHOT) else INCREMENTAL
    etag = make_etag(store, agencies, last, latest, horizon, "public" if view else "")
    bodies = [view(b) for _, b in rows] if view else [b for _, b in rows]
    return FeedAnswer(200, _body(bodies, codec.encode(out_mode, last, agencies), more), etag)


def _body(items: list[bytes], cursor: str, more: bool) -> bytes:
    tail = f'],"cursor":"{cursor}","more":{"true" if more else "false"}}}'
    return b'{"items":[' + b",".join(items) + tail.encode()
