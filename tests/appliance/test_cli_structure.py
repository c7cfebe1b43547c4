"""The CLI's structure: command groups in appliance/commands, parts that never import the composition root."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

import appliance.cli as cli
from appliance.commands import GROUPS

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("dossier", "sms_gateway", "central", "barcode", "kiosk", "provisioning", "health")


def imported_modules(path: Path) -> set[str]:
    """Every module a Python file imports, at any level (function-level imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", PARTS)
def test_no_part_imports_the_composition_root(part: str) -> None:
    folder = ROOT / part
    if not folder.is_dir():
        pytest.skip(f"{part} does not exist yet")
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted(folder.rglob("*.py"))
        if any(m == "appliance" or m.startswith("appliance.") for m in imported_modules(path))
    ]
    assert not offenders, f"{part} imports appliance (a circle; parts depend on dossier only): {offenders}"


def test_part_level_clis_moved_to_appliance_commands() -> None:
    for old in ("barcode.cli", "central.cli", "sms_gateway.cli"):
        assert importlib.util.find_spec(old) is None, f"{old} should live in appliance/commands now"
    for group in ("core", "central", "sms", "scan"):
        module = importlib.import_module(f"appliance.commands.{group}")
        assert callable(module.register)


def test_groups_without_a_module_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "GROUPS", (*GROUPS, "not_written_yet"))
    assert "not_written_yet" not in cli.available_groups()
    assert {"core", "central", "sms", "scan"} <= set(cli.available_groups())
    cli.build_parser()  # builds with whatever exists


def test_core_commands_build_only_the_core_group() -> None:
    assert cli._command_of(["--config", "x.toml", "--data-dir", "d", "lookup", "CODE"]) == "lookup"
    assert cli._command_of(["-c", "sms", "scan", "image"]) == "scan"
    assert cli._command_of(["--help"]) == ""
    small = cli.build_parser(["lookup", "X"])
    assert small.parse_args(["lookup", "X", "--json"]).json
    full = cli.build_parser(["scan", "image", "f.png"])
    assert full.parse_args(["scan", "image", "f.png"]).files == ["f.png"]
