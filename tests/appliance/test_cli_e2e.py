"""End to end through the `motcua` CLI with a real central service on loopback, then without it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import CentralServiceSection
from central.app import create_app
from central.store import CentralStore
from central.testing import run_server
from dossier.model import VN_TZ
from tests.dossier.factory import make_dossier


def write_config(path: Path, url: str, data: Path) -> Path:
    path.write_text(
        f'[device]\ndata_dir = "{data}"\n[central]\nurl = "{url}"\nretries = 0\nconnect_timeout = 1.0\n'
        "[cache]\nfresh_seconds = 0.0\n[lookup]\ncentral_deadline = 1.0\n",
        encoding="utf-8",
    )
    return path


def test_synced_code_still_answers_with_its_age_when_central_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CentralStore(tmp_path / "central.db")
    store.bulk_insert([make_dossier(n) for n in range(1, 11)], datetime.now(VN_TZ))
    store.close()
    code = make_dossier(3).code
    with run_server(create_app(CentralServiceSection(), db_path=tmp_path / "central.db")) as url:
        cfg = write_config(tmp_path / "c.toml", url, tmp_path / "data")
        assert main(["--config", str(cfg), "sync", "--once"]) == 0
        assert "10 dossiers cached" in capsys.readouterr().out
        assert main(["--config", str(cfg), "lookup", code.replace(".", " ").lower()]) == 0
        out = capsys.readouterr().out
        assert code in out and "Nguyễn V. A." in out and "Đang giải quyết" in out
    # central is gone now
    assert main(["--config", str(cfg), "lookup", code, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["source"] == "stale" and answer["as_of"] and answer["age_seconds"] >= 0
    assert answer["dossier"]["code"] == code and answer["dossier"]["applicant_name"] == "Nguyễn Văn An"
    assert main(["--config", str(cfg), "lookup", make_dossier(99).code]) == 4
    assert "Chưa tra cứu được" in capsys.readouterr().out


def test_user_mistakes_are_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[central]\nurl = 5\n", encoding="utf-8")
    cases = [
        (["--config", str(bad), "config", "check"], "central.url must be text"),
        (["--config", str(tmp_path / "missing.toml"), "config", "check"], "does not exist"),
        (["--data-dir", str(tmp_path), "lookup", "000.00.15.H56-241315-0001"], "15/13/24 is not a date"),
        (["--data-dir", str(tmp_path), "lookup", "hello"], "no dossier code found"),
        (["--log-level", "LOUD", "config", "check"], "logging.level"),
    ]
    for argv, message in cases:
        proc = subprocess.run(
            [sys.executable, "-m", "appliance.cli", *argv], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, (argv, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_example_config_checks(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "config.example.toml"
    assert main(["--config", str(example), "config", "check"]) == 0
