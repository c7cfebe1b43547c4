"""The model boundary: odd but well-formed values are either a valid dossier that renders, stores and
round-trips, or an ``InvalidRecord`` naming the field, never another exception (hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dossier.cache import Cache
from dossier.errors import InvalidRecord
from dossier.lookup import LookupResult, Outcome
from dossier.model import MAX_VERSION, Dossier
from dossier.render import render_sms, render_text
from tests.dossier.factory import BASE, make_dossier

TIMES = ("submitted_at", "received_at", "due_at", "finished_at", "returned_at", "updated_at")
TEXTS = ("agency_id", "agency_name", "procedure_name", "applicant_name", "handling_agency", "note")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"version": 2**63}, "version: expected `int` <= 9223372036854775807"),
        ({"version": 2**64 + 5}, "version:"),
        ({"version": -1}, "version: expected `int` >= 0"),
        ({"due_at": "9999-12-31T23:59:59-12:00"}, "due_at: 9999-12-31T23:59:59-12:00 is outside"),
        ({"submitted_at": "0001-01-01T00:00:00+14:00"}, "submitted_at: 0001-01-01T00:00:00+14:00 is outside"),
        ({"history": [{"at": "1999-12-31T23:59:59+00:00"}]}, "history[0].at: 1999-12-31"),
        (
            {"history": [{"at": "2026-01-01T00:00:00+07:00"}] * 201},
            "history: expected `array` of length <= 200",
        ),
        ({"owner_phone_hash": "x" * 201}, "owner_phone_hash: expected `str` of length <= 200"),
        ({"code": "x" * 201}, "code: expected `str` of length <= 200"),
        ({"applicant_name": "An \ud800"}, "not valid Unicode"),
    ],
)
def test_out_of_bounds_values_are_invalid_records(patch: dict[str, object], message: str) -> None:
    data = make_dossier().to_json() | patch
    with pytest.raises(InvalidRecord) as info:
        Dossier.from_json(data)
    assert message in str(info.value)


def test_the_edges_of_the_window_are_accepted() -> None:
    edges = {"due_at": "2100-12-31T23:59:59+00:00", "submitted_at": "2000-01-01T00:00:00+00:00"}
    d = Dossier.from_json(make_dossier().to_json() | edges | {"version": MAX_VERSION})
    assert render_sms(LookupResult(d.code, Outcome.FOUND, d, "cache", BASE, 0.0))


# --- hypothesis ------------------------------------------------------------------------------------

offsets = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
).map(lambda t: timezone(timedelta(minutes=int(t.total_seconds() // 60))))
iso_times = st.builds(
    lambda d, tz: d.replace(tzinfo=tz).isoformat(),
    st.datetimes(min_value=datetime(1999, 12, 30), max_value=datetime(2101, 1, 2))
    | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offsets,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1900, max_size=2100),
    iso_times,
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
fields = st.sampled_from(
    ["code", "version", "status", "history", "owner_phone_hash", "extra_field", *TIMES, *TEXTS]
)
steps = st.fixed_dictionaries(
    {"at": iso_times}, optional={"action": st.text(max_size=50), "deadline_at": iso_times | st.none()}
)
wild = st.dictionaries(fields, values | iso_times | st.lists(steps, max_size=3), max_size=4)
plausible = st.fixed_dictionaries(
    {},
    optional={
        **{name: iso_times | st.none() for name in TIMES},
        **{name: st.text(max_size=2100) for name in TEXTS},
        "version": st.integers(min_value=-2, max_value=2**64),
        "status": st.integers(min_value=0, max_value=11),
        "history": st.lists(steps, max_size=5),
        "code": st.text(min_size=0, max_size=210),
    },
)
patches = plausible | wild


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cache]:
    c = Cache(Path(tmp_path_factory.mktemp("bounds")) / "cache.db")
    yield c
    c.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patch=patches, as_text=st.booleans())
def test_decoding_anything_gives_a_dossier_that_works_or_an_invalid_record(
    cache: Cache, patch: dict[str, object], as_text: bool
) -> None:
    data = make_dossier().to_json() | patch
    try:
        d = Dossier.decode(json.dumps(data).encode()) if as_text else Dossier.from_json(data)
    except InvalidRecord:
        return
    now = datetime.now(UTC)
    for source in ("cache", "stale"):
        result = LookupResult(d.code, Outcome.FOUND, d, source, now, 10.0)
        for lang in ("vi", "en"):
            assert render_text(result, lang=lang, mask_names=True, now=now)
            render_text(result, lang=lang, mask_names=False, now=now)
        for unicode in (False, True):
            assert render_sms(result, unicode=unicode, segments=2, now=now)
        json.dumps(result.to_json(), ensure_ascii=False)
    assert Dossier.decode(d.encode()) == d
    cache.put(d)
    entry = cache.get(d.code)
    assert entry is not None and entry.dossier.code == d.code
