"""The lookup seam: the fake used by the gateway's unit tests keeps the real LookupService's contract."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dossier.cache import Cache
from dossier.codes import parse_code
from dossier.errors import CentralUnavailable, DossierNotFound
from dossier.lookup import LookupService, Outcome
from dossier.model import Dossier
from tests.dossier.factory import make_dossier
from tests.sms_gateway.gateway_fakes import FakeLookup

KNOWN = make_dossier(1)
DOWN = make_dossier(9).code
UNKNOWN = make_dossier(7).code


class Source:
    """Central as the real lookup sees it: knows KNOWN, not UNKNOWN, cannot be reached for DOWN."""

    def get_dossier(self, code: str, *, deadline: float | None = None) -> Dossier:
        if code == KNOWN.code:
            return KNOWN
        if code == DOWN:
            time.sleep(min(deadline or 0.2, 0.2))
            raise CentralUnavailable("connection refused")
        raise DossierNotFound(code)


@pytest.fixture(params=["fake", "real"])
def lookup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "fake":
        yield FakeLookup({KNOWN.code: KNOWN}, unavailable={DOWN})
        return
    cache = Cache(tmp_path / "cache.db")
    service = LookupService(cache, Source(), central_deadline=1.0)
    yield service
    service.close()
    cache.close()


def test_found(lookup) -> None:
    for code in (KNOWN.code, parse_code(KNOWN.code)):
        result = lookup.lookup(code, deadline=1.0)
        assert result.outcome is Outcome.FOUND and result.dossier is not None
        assert result.code == KNOWN.code and result.dossier.code == KNOWN.code
        assert result.source in ("cache", "central", "stale")


def test_not_found(lookup) -> None:
    result = lookup.lookup(parse_code(UNKNOWN), deadline=1.0)
    assert result.outcome is Outcome.NOT_FOUND and result.dossier is None and result.code == UNKNOWN


def test_unavailable_within_the_deadline(lookup) -> None:
    started = time.monotonic()
    result = lookup.lookup(parse_code(DOWN), deadline=1.0)
    assert result.outcome is Outcome.UNAVAILABLE and result.dossier is None and result.source == "none"
    assert time.monotonic() - started < 5.0  # generous: "never hangs", not a speed figure
