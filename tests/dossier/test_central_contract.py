"""Contract tests: the same checks against the real reference service and the scripted fake.

The scripted fake (fault injection) is trusted only because it passes what the real service passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from central.app import create_app
from central.settings import CentralServiceSection
from central.store import CentralStore
from central.testing import run_server
from dossier.client import CentralClient
from dossier.errors import DossierNotFound
from dossier.model import VN_TZ, Dossier
from tests.dossier.factory import make_dossier
from tests.dossier.scripted_central import scripted_central

SEED = [make_dossier(n) for n in range(1, 8)] + [make_dossier(20, agency="000.00.16.H56")]


@contextmanager
def real_central(tmp_path: Path) -> Iterator[tuple[str, str]]:
    store = CentralStore(tmp_path / "central.db")
    store.bulk_insert(SEED, datetime.now(VN_TZ))
    _, api_key = store.enroll_local("contract-test", "sms", datetime.now(VN_TZ))  # reads need a device
    store.close()
    app = create_app(CentralServiceSection(), db_path=tmp_path / "central.db")
    with run_server(app) as url:
        yield url, api_key


@contextmanager
def fake_central(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with scripted_central() as (url, state):
        for d in SEED:
            state.put(d)
        yield url, ""


@pytest.fixture(params=["real", "scripted"])
def central_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    factory = real_central if request.param == "real" else fake_central
    with factory(tmp_path) as pair:
        yield pair


def client(central: tuple[str, str]) -> CentralClient:
    url, api_key = central
    return CentralClient(url, api_key=api_key, connect_timeout=2, read_timeout=5, retries=0)


def same_content(a: Dossier, b: Dossier) -> bool:
    keep = ("code", "status", "agency_id", "procedure_name", "applicant_name", "due_at", "history")
    return all(getattr(a, k) == getattr(b, k) for k in keep)


def test_dossier_by_code(central_url: tuple[str, str]) -> None:
    got = client(central_url).get_dossier(SEED[0].code)
    assert same_content(got, SEED[0]) and got.version >= 1


def test_unknown_code_is_not_found(central_url: tuple[str, str]) -> None:
    with pytest.raises(DossierNotFound):
        client(central_url).get_dossier("000.00.15.H56-261110-0999")


def test_changes_feed_pages_to_the_end_then_304(central_url: tuple[str, str]) -> None:
    c = client(central_url)
    seen: dict[str, Dossier] = {}
    cursor = None
    for _ in range(20):
        page = c.changes([], cursor, limit=3)
        seen.update((d.code, d) for d in page.items)
        cursor = page.cursor
        if not page.more:
            break
    assert set(seen) == {d.code for d in SEED}
    assert c.changes([], cursor, etag=page.etag).not_modified


def test_changes_feed_filters_by_agency(central_url: tuple[str, str]) -> None:
    page = client(central_url).changes(["000.00.16.H56"], None, limit=100)
    assert [d.code for d in page.items] == [SEED[-1].code]
