"""Configuration: the example documents every key with its default; bad files name the key and the bound."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from pathlib import Path
from typing import Any

import msgspec
import pytest

from appliance.config import (
    Config,
    config_from_dict,
    exposed_secrets,
    load_config,
    with_overrides,
    write_atomic,
)
from dossier.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def _fields(tp: Any) -> dict[str, Any]:
    """Field name → type of a section (msgspec Struct or, during the switch, a dataclass)."""
    assert isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp)), tp
    return typing.get_type_hints(tp)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp))


def test_example_loads_and_equals_the_embedded_defaults() -> None:
    assert load_config(EXAMPLE) == Config()


def test_example_documents_every_key_of_every_section() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for section, section_type in _fields(Config).items():
        assert section in raw, f"[{section}] missing from config.example.toml"
        for key, hint in _fields(section_type).items():
            name = f"{section}.{key}"
            item_types = typing.get_args(hint)
            if item_types and _is_section(item_types[0]):
                # An array of tables has no empty form in TOML: it is documented commented out.
                table = _commented_table(lines, name)
                missing = set(_fields(item_types[0])) - set(table)
                assert not missing, f"[[{name}]] in config.example.toml lacks {sorted(missing)}"
                continue
            assert key in raw[section], f"{name} missing from config.example.toml"
    for i, line in enumerate(lines):
        if line.startswith("[") and not lines[i + 1].startswith("#") and lines[i + 1].strip():
            pytest.fail(f"section {line} has no comment after it or before its first key")


def _commented_table(lines: list[str], name: str) -> dict[str, object]:
    """The keys of a commented-out ``# [[name]]`` example table."""
    start = lines.index(f"# [[{name}]]")
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("# "):
            break
        if not line.startswith("# #"):
            body.append(line[2:])
    return tomllib.loads("\n".join(body))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"central": {"urll": "x"}}, "unknown key central.urll"),
        ({"nosuch": {}}, "unknown key nosuch"),
        ({"device": {"kynd": "sms"}}, "unknown key device.kynd (known keys here: agencies, data_dir,"),
        ({"sync": {"interval": "30"}}, "sync.interval must be a number, not text"),
        ({"cache": {"retention_days": 1.5}}, "cache.retention_days must be a whole number"),
        ({"render": {"mask_names": "yes"}}, "render.mask_names must be true or false"),
        ({"device": {"agencies": "000.00.15.H56"}}, "device.agencies must be a list"),
        ({"device": {"agencies": [1]}}, "device.agencies[0] must be text"),
        ({"central": "x"}, "central must be a table"),
        ({"central": {"url": 5}}, "central.url must be text"),
        ({"sync": {"page_size": 0}}, "sync.page_size must be >= 1 (got 0)"),
        ({"lookup": {"central_deadline": -1}}, "lookup.central_deadline must be >= 0.1 (got -1)"),
        ({"sync": {"jitter": 2.0}}, "sync.jitter must be <= 1.0 (got 2.0)"),
        (
            {"device": {"role": "gateway"}},
            'device.role must be one of "kiosk", "sms", "both" (got "gateway")',
        ),
        ({"device": {"name": ""}}, 'device.name must have a length >= 1 (got "")'),
        ({"central": {"url": "ftp://central"}}, "central.url must be an http:// or https:// URL with a host"),
        ({"central": {"url": "central.example.vn"}}, "central.url must be an http:// or https:// URL"),
        ({"central": {"url": "http://host:99999"}}, "central.url must be an http:// or https:// URL"),
        ({"central": {"adapter": "soap"}}, 'central.adapter must be one of "reference", "dvcqg"'),
        ({"logging": {"level": "LOUD"}}, "logging.level must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"codes": {"extra_patterns": ["("]}}, "codes.extra_patterns[0] is not a valid regular expression"),
        ({"barcode": {"symbologies": []}}, "barcode.symbologies must have a length >= 1"),
        ({"barcode": {"decoders": ["quagga"]}}, "barcode.decoders[0] must be one of"),
        ({"barcode": {"max_image_pixels": 0}}, "barcode.max_image_pixels must be >= 10000 (got 0)"),
        ({"barcode": {"camera_roi": [0.5, 0.5, 0.6, 0.2]}}, "barcode.camera_roi must be [x, y, w, h]"),
        ({"barcode": {"wedge_min_length": 9, "wedge_max_length": 8}}, "barcode.wedge_max_length must be >="),
    ],
)
def test_wrong_keys_types_and_bounds_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_keys_in_dataclass_sections_are_refused_too() -> None:
    """Sections not yet converted to msgspec Structs (dataclasses) still refuse unknown keys."""
    for section, section_type in _fields(Config).items():
        with pytest.raises(ConfigError, match=f"unknown key {section}.no_such_key"):
            config_from_dict({section: {"no_such_key": 1}})
        assert _is_section(section_type)


def test_lower_case_log_levels_and_good_values_load() -> None:
    config = config_from_dict(
        {
            "logging": {"level": "debug"},
            "device": {"role": "kiosk"},
            "central": {"url": "https://motcua.example.vn/api"},
            "sync": {"page_size": 1, "interval": 5},
        }
    )
    assert config.device.role == "kiosk" and config.sync.interval == 5.0
    assert Config().device.role == "both"


def test_command_line_overrides_are_validated_like_the_file(tmp_path: Path) -> None:
    config = with_overrides(Config(), data_dir=str(tmp_path), log_level="warning")
    assert config.data_dir == tmp_path and config.logging.level == "warning"
    with pytest.raises(ConfigError, match="logging.level"):
        with_overrides(Config(), log_level="LOUD")


def test_unreadable_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[central\nurl = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_a_file_with_secrets_readable_by_others_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[central]\napi_key = "dev_0123456789abcdef"\n', encoding="utf-8")
    os.chmod(path, 0o644)
    warning = exposed_secrets(path, load_config(path))
    assert "central.api_key" in warning and f"chmod 600 {path}" in warning and "others" in warning
    assert "dev_0123456789abcdef" not in warning
    os.chmod(path, 0o600)
    assert exposed_secrets(path, load_config(path)) == ""
    plain = tmp_path / "plain.toml"
    plain.write_text('[device]\nname = "kiosk-1"\n', encoding="utf-8")
    os.chmod(plain, 0o644)
    assert exposed_secrets(plain, load_config(plain)) == ""  # no secret in it: nothing to say
    assert exposed_secrets(EXAMPLE, load_config(EXAMPLE)) == ""  # defaults (change-me) are no secret


def test_write_atomic_replaces_whole_files_private(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "config.toml"
    write_atomic(target, "a = 1\n")
    write_atomic(target, "a = 2\n")
    assert target.read_text() == "a = 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["config.toml"]
    assert target.stat().st_mode & 0o777 == 0o600
