"""Schemathesis against the live service: every operation of its OpenAPI document, fuzzed over HTTP.

The real app on uvicorn on loopback, over a real SQLite file seeded with dossiers, called as an enrolled
device (reads, ratings, device routes), as the administrator (ingestion, administration) or with the
scrape token (``/metrics``). Checks: no 5xx, and every answer conforms to the document. Bounded and
deterministic: ``EXAMPLES`` positive and ``EXAMPLES`` negative examples per operation, derandomized.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from central.app import create_app
from central.settings import CentralServiceSection
from central.testing import run_server, seed_bulk
from tests.central.conftest import ADMIN, Clock

EXAMPLES = 40
SCRAPE = "test-scrape-token"
CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass
class Live:
    """The running service and the credentials of its three kinds of caller."""

    url: str
    device_key: str
    http: requests.Session
    code: str = ""
    agency: str = ""

    def headers_for(self, path: str) -> dict[str, str]:
        """The credential an operation expects."""
        if path.startswith(("/api/v1/admin/", "/api/v1/ingest/")):
            return {"Authorization": f"Bearer {ADMIN}"}
        if path == "/metrics":
            return {"Authorization": f"Bearer {SCRAPE}"}
        return {"Authorization": f"Bearer {self.device_key}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db: Path = tmp_path_factory.mktemp("schemathesis") / "central.db"
    seed_bulk(db, 60)
    settings_ = replace(CentralServiceSection(), admin_token=ADMIN, db_path=str(db), scrape_token=SCRAPE)
    with run_server(create_app(settings_, now=Clock())) as url, requests.Session() as http:
        auth = {"Authorization": f"Bearer {ADMIN}"}
        token = http.post(url + "/api/v1/admin/enrollment-tokens", headers=auth, timeout=30).json()["token"]
        enrolled = http.post(url + "/api/v1/devices/enroll", timeout=30,
                             json={"token": token, "name": "schemathesis", "kind": "kiosk"})  # fmt: skip
        assert enrolled.status_code == 201, enrolled.text
        live = Live(url, enrolled.json()["api_key"], http)
        one = http.get(url + "/api/v1/changes?limit=1", headers=live.headers_for(""), timeout=30).json()
        live.code, live.agency = one["items"][0]["code"], one["items"][0]["agency_id"]
        yield live


def known_data(live: Live, operation: schemathesis.APIOperation) -> dict[str, object]:
    """Fixed inputs that reach the success paths random data rarely finds (a stored code, a rating)."""
    if "{code}" in operation.path:
        return {"path_parameters": {"code": live.code}}
    if "{agency_id}" in operation.path:
        return {"path_parameters": {"agency_id": live.agency}}
    if operation.path == "/api/v1/ratings":
        return {"body": {"id": "r-schemathesis", "code": live.code, "service": 1, "staff": 2}}
    return {}


def fuzz(live: Live, operation: schemathesis.APIOperation) -> str | None:
    """Run one operation's examples; its failure in one line, None when every answer passed."""
    headers = live.headers_for(operation.path)
    strategies = [operation.as_strategy(mode, headers=headers) for mode in GenerationMode]
    known = known_data(live, operation)
    if known:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, headers=headers, **known))  # type: ignore[arg-type]

    @settings(
        max_examples=EXAMPLES * len(strategies),
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(
            base_url=live.url, session=live.http, headers=headers, checks=CHECKS, timeout=30
        )

    try:
        run()
    except (Exception, BaseExceptionGroup) as err:  # noqa: BLE001 (collect every failure, report them all)
        return f"{operation.label}: {' '.join(str(err).split())[:600]}"
    return None


def test_every_operation_answers_without_5xx_and_as_documented(live: Live) -> None:
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [o.label for o in operations]  # the document lists the whole API
    failures = [f for f in (fuzz(live, operation) for operation in operations) if f]
    assert not failures, "\n".join(failures)
