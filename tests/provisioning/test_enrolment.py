"""Enrolment at first connection (``ensure_enrolled``), as the sync and health services call it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from provisioning.enrolment import (
    KEY_FILE,
    PENDING_FILE,
    EnrolmentRefused,
    Pending,
    enrol,
    ensure_enrolled,
    read_credentials,
    write_pending,
)
from tests.provisioning.conftest import Central


def test_the_configured_key_wins_and_no_enrolment_means_no_key(tmp_path: Path) -> None:
    assert ensure_enrolled(tmp_path, "http://127.0.0.1:9", api_key="mck_configured") == "mck_configured"
    assert ensure_enrolled(tmp_path, "http://127.0.0.1:9") == ""  # nothing pending, nothing saved


def test_two_services_starting_together_spend_the_token_once(tmp_path: Path, central: Central) -> None:
    write_pending(tmp_path, Pending(central.token(), "sms-000.00.15.H56", "sms"))
    barrier = threading.Barrier(2)
    keys: list[str] = []
    errors: list[BaseException] = []

    def service() -> None:
        barrier.wait(timeout=10)
        try:
            keys.append(ensure_enrolled(tmp_path, central.url))
        except BaseException as err:  # collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=service) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith("mck_")
    saved = read_credentials(tmp_path)
    assert saved is not None and saved.central == central.url and saved.api_key == keys[0]
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / PENDING_FILE).exists()
    assert "mck_" not in repr(saved)


def test_a_refused_pending_token_stops_the_service_with_the_fix(tmp_path: Path, central: Central) -> None:
    token = central.token()
    enrol(central.url, token, "someone-else", "kiosk")
    write_pending(tmp_path, Pending(token, "kiosk-000.00.15.H56", "kiosk"))
    with pytest.raises(EnrolmentRefused, match="already used.*ask the ICT office for a new token"):
        ensure_enrolled(tmp_path, central.url)
    assert (tmp_path / PENDING_FILE).exists() and not (tmp_path / KEY_FILE).exists()
