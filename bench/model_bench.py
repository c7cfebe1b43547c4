"""The dossier model's wire form: msgspec against the standard ``json`` module with hand-written validation.

The figures behind the README's "Libraries, and why" table. Both sides take the same JSON text of the
same realistic dossiers (3-step histories, owner hashes, Vietnamese text) and produce the same validated
``Dossier`` (decode), or the same JSON text back (encode); the hand-written side checks what the model
checks (types, lengths, states, aware times within the window, history length).

Run: .venv/bin/python bench/model_bench.py [--records 3000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from central.testing import synthetic_dossiers  # noqa: E402
from dossier.errors import InvalidRecord  # noqa: E402
from dossier.model import (  # noqa: E402
    FIRST_YEAR,
    LAST_YEAR,
    MAX_CODE,
    MAX_HASH,
    MAX_HISTORY,
    MAX_TEXT,
    MAX_VERSION,
    VN_TZ,
    Dossier,
    HistoryStep,
    Status,
)

AGENCIES = ["000.00.15.H56", "000.00.16.H56", "000.17.22.H56", "000.21.15.H56"]
TEXTS = [
    "agency_id",
    "agency_name",
    "procedure_code",
    "procedure_name",
    "applicant_name",
    "organisation",
    "handling_agency",
    "handling_department",
    "handling_officer",
    "note",
]
TIMES = ["submitted_at", "received_at", "due_at", "finished_at", "returned_at", "updated_at"]
STEP_TEXTS = ["action", "officer", "title", "department", "state"]


def _text(data: dict[str, Any], key: str, limit: int = MAX_TEXT) -> str:
    value = data.get(key, "")
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidRecord(f"{key}: expected `str` of length <= {limit}")
    return value


def _time(data: dict[str, Any], key: str, required: bool = False) -> datetime | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{key}: expected a time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRecord(f"{key}: not an ISO 8601 time") from None
    if parsed.tzinfo is None or not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise InvalidRecord(f"{key}: needs an offset and a year within the window")
    return parsed


def hand_decode(text: bytes) -> Dossier:
    """``json.loads`` and a hand-written check of every field the model checks."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise InvalidRecord("expected an object")
    code = data.get("code")
    if not isinstance(code, str) or not 1 <= len(code) <= MAX_CODE:
        raise InvalidRecord("code: expected a non-empty `str`")
    version = data.get("version")
    if type(version) is not int or not 0 <= version <= MAX_VERSION:
        raise InvalidRecord("version: expected `int` within SQLite's range")
    status = data.get("status")
    if type(status) is not int or status not in Status._value2member_map_:
        raise InvalidRecord("status: invalid enum value")
    history = data.get("history", [])
    if not isinstance(history, list) or len(history) > MAX_HISTORY:
        raise InvalidRecord("history: expected an array")
    steps = []
    for step in history:
        if not isinstance(step, dict):
            raise InvalidRecord("history: expected objects")
        steps.append(
            HistoryStep(
                at=_time(step, "at", required=True),  # type: ignore[arg-type]
                started_at=_time(step, "started_at"),
                deadline_at=_time(step, "deadline_at"),
                **{k: _text(step, k) for k in STEP_TEXTS},
            )
        )
    return Dossier(
        code=code,
        version=version,
        status=Status(status),
        history=tuple(steps),
        owner_phone_hash=_text(data, "owner_phone_hash", MAX_HASH),
        owner_id4_hash=_text(data, "owner_id4_hash", MAX_HASH),
        **{k: _text(data, k) for k in TEXTS},
        **{k: _time(data, k) for k in TIMES},
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def hand_encode(d: Dossier) -> bytes:
    """The contract's JSON text built by hand for ``json.dumps``."""
    data: dict[str, Any] = {"code": d.code, "version": d.version, "status": int(d.status)}
    data.update({k: getattr(d, k) for k in TEXTS})
    data.update({k: _iso(getattr(d, k)) for k in TIMES})
    data["history"] = [
        {
            "at": _iso(s.at),
            **{k: getattr(s, k) for k in STEP_TEXTS},
            "started_at": _iso(s.started_at),
            "deadline_at": _iso(s.deadline_at),
        }
        for s in d.history
    ]
    data["owner_phone_hash"], data["owner_id4_hash"] = d.owner_phone_hash, d.owner_id4_hash
    return json.dumps(data, ensure_ascii=False).encode()


def _per_record(fn, items: list[Any]) -> float:  # type: ignore[no-untyped-def]
    """Microseconds per record over one pass."""
    started = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - started) / len(items) * 1e6


def main() -> None:
    """Print the decode and encode table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=3000)
    args = ap.parse_args()
    dossiers = synthetic_dossiers(args.records, AGENCIES, datetime(2026, 10, 1, 8, 0, tzinfo=VN_TZ))
    texts = [d.encode() for d in dossiers]
    assert all(hand_decode(t) == d for t, d in zip(texts, dossiers, strict=True)), "both sides must agree"
    size = sum(map(len, texts)) / len(texts)
    rows = [
        ("decode and validate", _per_record(Dossier.decode, texts), _per_record(hand_decode, texts)),
        ("encode", _per_record(Dossier.encode, dossiers), _per_record(hand_encode, dossiers)),
    ]
    print(
        f"== model: msgspec vs json + hand-written validation, {len(texts)} dossiers of {size / 1000:.1f} KB"
    )
    print(f"   {'step':<20} {'msgspec':>9} {'json+hand':>10} {'speed-up':>9}")
    for name, ours, theirs in rows:
        print(f"   {name:<20} {ours:>7.1f}µs {theirs:>8.1f}µs {theirs / ours:>8.1f}x")


if __name__ == "__main__":
    main()
