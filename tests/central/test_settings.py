"""The central service's own settings section: safe defaults and bounds."""

from __future__ import annotations

import msgspec
import pytest

from central.settings import CentralServiceSection


def test_reads_are_authenticated_by_default() -> None:
    assert CentralServiceSection().open_read is False
    assert msgspec.convert({}, CentralServiceSection).open_read is False


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"port": 0}, "port"),
        ({"port": 70_000}, "port"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"enrollment_token_hours": 0}, "enrollment_token_hours"),
        ({"change_log_retention": 0}, "change_log_retention"),
        ({"demo_activity_seconds": -1}, "demo_activity_seconds"),
        ({"open_raed": True}, "open_raed"),
    ],
)
def test_out_of_bounds_and_unknown_keys_are_refused(raw: dict, words: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=words):
        msgspec.convert(raw, CentralServiceSection)
