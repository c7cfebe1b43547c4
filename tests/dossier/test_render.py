"""Rendering: screens in Vietnamese and English, SMS in GSM-7 within budget, names masked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from dossier.gsm7 import is_gsm7, segments, to_gsm7
from dossier.lookup import LookupResult, Outcome
from dossier.model import Status
from dossier.render import mask_name, render_sms, render_text
from tests.dossier.factory import BASE, make_dossier


def found(d, source="cache"):  # type: ignore[no-untyped-def]
    return LookupResult(d.code, Outcome.FOUND, d, source, BASE, 0.0)


def test_mask_name() -> None:
    assert mask_name("Nguyễn Văn An") == "Nguyễn V. A."
    assert mask_name("Lê Thị Hồng Nhung") == "Lê T. H. N."
    assert mask_name("An") == "A."
    assert mask_name("") == ""


def test_text_shows_required_fields_with_masked_name() -> None:
    d = make_dossier(status=Status.FINISHED, finished_at=BASE + timedelta(days=1))
    text = render_text(found(d), now=BASE)
    for expected in (
        d.code,
        "Đã có kết quả",
        "Đăng ký khai sinh",
        "Nguyễn V. A.",
        "10/11/2026",
        "15/11/2026",
        "11/11/2026",
        "Phòng Tư pháp",
    ):
        assert expected in text
    assert "Nguyễn Văn An" not in text
    assert "Nguyễn Văn An" in render_text(found(d), mask_names=False, now=BASE)
    assert "Result ready" in render_text(found(d), lang="en", now=BASE)


def test_stale_answers_say_as_of_when() -> None:
    d = make_dossier()
    stale = LookupResult(d.code, Outcome.FOUND, d, "stale", datetime(2026, 11, 20, 3, 5, tzinfo=UTC), 3600.0)
    assert "Dữ liệu lúc 10:05 20/11/2026" in render_text(stale, now=BASE)
    assert "Du lieu luc 10:05 20/11/2026" in render_sms(stale, now=BASE)


def test_not_found_and_unavailable() -> None:
    nf = LookupResult("X", Outcome.NOT_FOUND, None, "central", None, None)
    na = LookupResult("X", Outcome.UNAVAILABLE, None, "none", None, None)
    assert "Không tìm thấy" in render_text(nf)
    assert "Chưa tra cứu được" in render_text(na)
    assert is_gsm7(render_sms(nf)) and is_gsm7(render_sms(na))


def test_sms_is_unaccented_gsm7_and_drops_detail_first() -> None:
    d = make_dossier(due_at=BASE - timedelta(days=1))
    two = render_sms(found(d), segments=2, now=BASE)
    assert is_gsm7(two) and "QUA HAN" in two and "Nguyen V. A." in two
    one = render_sms(found(d), segments=1, now=BASE)
    assert segments(one) == 1 and d.code in one and "Dang giai quyet" in one
    assert "Nguoi nop" not in render_sms(found(d), full=False, now=BASE)


def test_sms_unicode_option_keeps_diacritics() -> None:
    text = render_sms(found(make_dossier()), segments=3, unicode=True, now=BASE)
    assert "Đang giải quyết" in text and segments(text, unicode=True) <= 3


def test_to_gsm7_maps_d_with_stroke() -> None:
    assert to_gsm7("Đăng ký đất đai") == "Dang ky dat dai"
    assert to_gsm7("emoji 😀 ok") == "emoji ? ok"


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)


@settings(max_examples=300, deadline=None)
@given(
    name=names,
    procedure=names,
    agency=names,
    budget=st.integers(min_value=1, max_value=4),
    status=st.sampled_from(list(Status)),
    stale=st.booleans(),
)
def test_sms_always_gsm7_and_never_over_budget(
    name: str, procedure: str, agency: str, budget: int, status: Status, stale: bool
) -> None:
    d = make_dossier(applicant_name=name, procedure_name=procedure, handling_agency=agency, status=status)
    result = LookupResult(d.code, Outcome.FOUND, d, "stale" if stale else "cache", BASE, 10.0)
    text = render_sms(result, segments=budget, now=BASE)
    assert is_gsm7(text)
    assert segments(text) <= budget
    assert d.code in text
