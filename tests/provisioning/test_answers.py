"""The technician's answers: validation, the USB provisioning file, prompts with defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from dossier.codes import parse_code
from dossier.errors import InvalidInput
from provisioning.answers import (
    Answers,
    check_central,
    check_phone,
    check_site,
    example_file,
    from_file,
    prompt,
    validate,
)


def test_agency_identifier_follows_the_national_code() -> None:
    assert check_site(" 000.00.15.h56 ") == "000.00.15.H56"
    assert check_site("000.00.15.H56") == parse_code("000.00.15.H56-240315-0001").agency
    for bad in ("000.00.15", "00.00.15.H56", "000.00.15.5H6", "000-00-15-H56", ""):
        with pytest.raises(InvalidInput, match="e.g. 000.00.15.H56"):
            check_site(bad)


def test_central_address_and_phone() -> None:
    assert check_central("https://motcua.example.gov.vn/ ") == "https://motcua.example.gov.vn"
    for bad in ("motcua.example.gov.vn", "ftp://x", "https://", "https://x/?a=1", "http://x:99999"):
        with pytest.raises(InvalidInput):
            check_central(bad)
    assert check_phone("0912 345 678") == "0912345678" and check_phone("") == ""
    with pytest.raises(InvalidInput, match="not a phone number"):
        check_phone("12ab")


def test_validate_fills_the_default_name() -> None:
    a = validate(
        Answers(site="000.00.15.h56", role=" SMS", central="http://127.0.0.1:8470", token="enr_12345678")
    )
    assert a.name == "sms-000.00.15.H56" and a.role == "sms"
    assert a.missing(need_token=True) == [] and Answers().missing(need_token=False) == [
        "site",
        "role",
        "central",
    ]
    with pytest.raises(InvalidInput, match="choose kiosk, sms or both"):
        validate(Answers(role="gateway"))
    with pytest.raises(InvalidInput, match="token looks wrong"):
        validate(Answers(token="short"))


def test_provisioning_file(tmp_path: Path) -> None:
    path = tmp_path / "motcua.toml"
    path.write_text(example_file(), encoding="utf-8")
    a = from_file(path)
    assert (a.site, a.role, a.central, a.token) == (
        "000.00.15.H56",
        "sms",
        "https://motcua.example.gov.vn",
        "enr_...",
    )
    path.write_text('site = "000.00.15.H56"\nrole = "sms"\nsite_name = "x"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="unknown key site_name"):
        from_file(path)
    path.write_text("role = 3\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="role must be text"):
        from_file(path)
    path.write_text("role = \n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid TOML"):
        from_file(path)
    with pytest.raises(InvalidInput, match="is the USB stick mounted"):
        from_file(tmp_path / "missing.toml")


def test_prompts_ask_again_until_valid_and_offer_defaults() -> None:
    replies = iter(
        [
            "000.00.15",
            "000.00.15.H56",
            "both",
            "https://motcua.example.gov.vn",
            "enr_abcdefgh",
            "",
            "/dev/ttyUSB3",
        ]
    )
    asked: list[str] = []
    said: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return next(replies)

    a = prompt(Answers(role="kiosk"), ask, said.append, need_token=True)
    assert a == Answers(
        site="000.00.15.H56",
        role="both",
        central="https://motcua.example.gov.vn",
        token="enr_abcdefgh",
        name="both-000.00.15.H56",
        modem="/dev/ttyUSB3",
    )
    assert "not an agency identifier" in said[0]
    assert asked[2].endswith("[kiosk]: ")  # the current answer is the default
    assert not any("enr_" in q for q in asked)  # the token is never echoed as a default
