"""Property tests at the ingestion boundary: whatever arrives, every row is accepted or rejected with a
reason, nothing else escapes, and what was accepted reads back as a valid dossier.

Deterministic (``derandomize``): the same examples on every run, so a failure is never a flake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from central.ingest import MAX_DEPTH, Ingestor, Report, load_file, parse_json
from central.store import CentralStore
from dossier.errors import InvalidInput
from dossier.model import MAX_VERSION, VN_TZ, Dossier

NOW = datetime(2024, 3, 20, 10, 0, tzinfo=VN_TZ)
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
codes = st.sampled_from(["000.00.15.H56-240315-0001", "000.00.15.H56-240315-0002", "000.17.15.H56-240101-0009",
                         "000 00 15 h56 240315 0003", "x", "", "000.00.15.H56-241315-0001", "HS-1"])  # fmt: skip
times = st.sampled_from(["2024-03-15T08:12:00+07:00", "2024-03-15T08:12:00", "9999-12-31T23:59:59-12:00",
                         "0001-01-01T00:00:00+14:00", "1999-12-31T23:59:59+07:00", "2100-12-31T23:59:59-12:00",
                         "20240315081200", "15/03/2024", "hôm qua", ""])  # fmt: skip
portal_times = st.sampled_from(["20240315081200", "99991231235959", "00000101000000", "20241315081200",
                                "2024031508120", "²0240315081200", "20240315", "", "19991231235959"])  # fmt: skip
digits = st.sampled_from(
    ["4", "10", "0", "11", "²", "١", "1_0", " 4 ", "4.0", "", "-1", "99999999999999999999"]
)
versions = st.sampled_from([0, 1, 2**31, 2**63 - 2, 2**63 - 1, 2**63, 2**64, -1])


def plausible(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly values of the right shape, sometimes anything at all."""
    return st.one_of(strategy, strategy, json_values)


records = st.fixed_dictionaries(
    {"code": plausible(codes)},
    optional={
        "status": plausible(st.integers(min_value=-2, max_value=12)),
        "version": plausible(versions),
        "agency_id": plausible(st.sampled_from(["000.00.15.H56", ""])),
        "applicant_name": plausible(st.text(max_size=20)),
        "received_at": plausible(times),
        "due_at": plausible(times),
        "history": plausible(st.lists(st.fixed_dictionaries({"at": plausible(times)}), max_size=2)),
        "owner_phone": plausible(
            st.sampled_from(["0912345678", "+84 912 345 678", "12", "０９１２３４５６７８"])
        ),
        "owner_id": plausible(st.sampled_from(["035190001234", "²²²²", "12"])),
    },
)
portal_records = st.fixed_dictionaries(
    {"MaHoSo": plausible(codes), "TrangThaiHoSo": plausible(digits)},
    optional={
        "NgayTiepNhan": plausible(portal_times),
        "NgayHenTra": plausible(portal_times),
        "ChuHoSo": plausible(st.text(max_size=20)),
        "LoaiDoiTuong": plausible(digits),
        "SoDienThoai": plausible(st.sampled_from(["0912345678", "12"])),
        "DanhSachHoSoBoSung": plausible(
            st.lists(st.fixed_dictionaries({"NgayBoSung": plausible(portal_times)}), max_size=2)
        ),
    },
)
csv_fields = st.text(alphabet=st.sampled_from('0123456789²١,"\n x/-:T+.H'), max_size=25)


@pytest.fixture
def ingestor(tmp_path: Path) -> Iterator[Ingestor]:
    store = CentralStore(tmp_path / "central.db")
    try:
        yield Ingestor(store)
    finally:
        store.close()


def check(report: Report, rows: int, ingestor: Ingestor) -> None:
    """Every row accounted for once; every reason one line; the store holds only valid dossiers."""
    assert report.accepted + len(report.rejected) == rows
    assert len({r["index"] for r in report.rejected}) == len(report.rejected)
    assert all(r["reason"] and "\n" not in r["reason"] for r in report.rejected)
    for code, _status in ingestor.store.codes():
        d = ingestor.store.get(code)
        assert isinstance(d, Dossier) and 1 <= d.version <= MAX_VERSION


@FUZZ
@given(rows=st.lists(plausible(records), max_size=6))
def test_json_records_never_escape_the_report(ingestor: Ingestor, rows: list[Any]) -> None:
    raw = json.dumps(rows).encode()
    check(ingestor.records(parse_json(raw), NOW), len(rows), ingestor)


@FUZZ
@given(rows=st.lists(plausible(portal_records), max_size=6), service=st.sampled_from(
    ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"]))  # fmt: skip
def test_portal_payloads_never_escape_the_report(ingestor: Ingestor, rows: list[Any], service: str) -> None:
    payload = {"service": service, "data": rows}
    check(ingestor.dvcqg(parse_json(json.dumps(payload).encode()), NOW), len(rows), ingestor)


@FUZZ
@given(lines=st.lists(st.lists(csv_fields, min_size=1, max_size=5), max_size=6))
def test_csv_text_never_escapes_the_report(ingestor: Ingestor, lines: list[list[str]]) -> None:
    text = "code,status,due_at,note\n" + "\n".join(",".join(fields) for fields in lines)
    try:
        report = load_file(ingestor, text, NOW)
    except InvalidInput:  # only a payload wrong as a whole, e.g. a file that starts like JSON
        return
    check(report, report.accepted + len(report.rejected), ingestor)


@FUZZ
@given(value=json_values, depth=st.integers(min_value=0, max_value=40))
def test_parse_json_bounds_nesting(value: Any, depth: int) -> None:
    raw = ("[" * depth + json.dumps(value) + "]" * depth).encode()
    too_deep = depth + nesting(value) > MAX_DEPTH
    try:
        parsed = parse_json(raw)
    except InvalidInput as err:
        assert "nested deeper" in str(err) and too_deep
        return
    assert parsed == json.loads(raw) and not too_deep


def nesting(value: Any) -> int:
    """Levels of arrays and objects (a scalar: 0)."""
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0
