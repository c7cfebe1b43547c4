"""Configuration: the example documents every key with its default; bad files name the key."""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path

import pytest

from appliance.config import Config, config_from_dict, load_config, write_atomic
from dossier.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.toml"


def test_example_loads_and_equals_the_embedded_defaults() -> None:
    assert load_config(EXAMPLE) == Config()


def test_example_documents_every_key_with_a_comment() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for section in dataclasses.fields(Config):
        assert section.name in raw, f"[{section.name}] missing from config.example.toml"
        instance = section.default_factory()  # type: ignore[misc]
        hints = typing.get_type_hints(type(instance))
        for key in dataclasses.fields(instance):
            name = f"{section.name}.{key.name}"
            item_types = typing.get_args(hints[key.name])
            if item_types and dataclasses.is_dataclass(item_types[0]):
                # An array of tables has no empty form in TOML: it is documented commented out.
                table = _commented_table(lines, name)
                missing = {f.name for f in dataclasses.fields(item_types[0])} - set(table)
                assert not missing, f"[[{name}]] in config.example.toml lacks {sorted(missing)}"
                continue
            assert key.name in raw[section.name], f"{name} missing from config.example.toml"
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
        ({"sync": {"interval": "30"}}, "sync.interval must be a number"),
        ({"cache": {"retention_days": 1.5}}, "cache.retention_days must be a whole number"),
        ({"render": {"mask_names": "yes"}}, "render.mask_names must be true or false"),
        ({"device": {"agencies": "000.00.15.H56"}}, "device.agencies must be a list"),
        ({"device": {"agencies": [1]}}, "device.agencies[0] must be text"),
        ({"central": "x"}, "central must be a table"),
    ],
)
def test_wrong_keys_and_types_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert message in str(info.value)


def test_unreadable_files_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[central\nurl = 1", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "config.toml"
    write_atomic(target, "a = 1\n")
    write_atomic(target, "a = 2\n")
    assert target.read_text() == "a = 2\n"
    assert [p.name for p in target.parent.iterdir()] == ["config.toml"]
