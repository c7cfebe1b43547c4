"""Reading the latest ``motcua doctor --record`` result (``<data_dir>/doctor.json``, written by P).

A missing file means no doctor ran yet (``None``). A malformed or oversized file is tolerated: it is
reported as one ``warn`` check named ``doctor_record`` so central sees that the record is unusable.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from health.sources import DoctorCheck, DoctorResult

log = logging.getLogger(__name__)

MAX_BYTES = 256_000
MAX_CHECKS = 64
STATUSES = ("pass", "warn", "fail")


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clip(value: Any, limit: int) -> str:
    """``value`` as one line of text (control characters become spaces) of at most ``limit`` characters."""
    text = _CONTROL.sub(" ", "" if value is None else str(value)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _unusable(reason: str) -> DoctorResult:
    return DoctorResult("", "warn", (DoctorCheck("doctor_record", "warn", clip(reason, 300)),))


def parse_doctor(raw: bytes) -> DoctorResult:
    """The doctor record in ``raw``; an unusable record becomes one ``warn`` check."""
    if len(raw) > MAX_BYTES:
        return _unusable(f"doctor.json is larger than {MAX_BYTES} bytes")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _unusable("doctor.json is not valid JSON")
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list):
        return _unusable("doctor.json has no list of checks")
    checks: list[DoctorCheck] = []
    for item in data["checks"]:
        name = clip(item.get("name"), 64) if isinstance(item, dict) else ""
        if not name or not isinstance(item.get("name"), str):
            continue
        status = item.get("status")
        if status not in STATUSES:
            status = "warn"
        checks.append(DoctorCheck(name, str(status), clip(item.get("detail"), 300)))
    if len(checks) > MAX_CHECKS:  # keep the failures first so that none is cut away
        order = {"fail": 0, "warn": 1, "pass": 2}
        checks = sorted(checks, key=lambda c: order[c.status])[:MAX_CHECKS]
    worst = data.get("worst")
    if worst not in STATUSES:
        worst = next((s for s in STATUSES[::-1] if any(c.status == s for c in checks)), "pass")
    return DoctorResult(clip(data.get("at"), 64), str(worst), tuple(checks))


class DoctorRecord:
    """The doctor file, read on demand; warns once per change of readability."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._bad = False

    def read(self) -> DoctorResult | None:
        """The latest result, ``None`` when no doctor has run yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            result = _unusable(f"doctor.json cannot be read: {err.strerror or err}")
        else:
            result = parse_doctor(raw)
        bad = any(c.name == "doctor_record" for c in result.checks)
        if bad and not self._bad:
            log.warning("the doctor record %s is unusable: %s", self.path, result.checks[0].detail)
        elif self._bad and not bad:
            log.info("the doctor record %s is readable again", self.path)
        self._bad = bad
        return result
