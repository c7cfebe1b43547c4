"""End to end through the `motcua` CLI with a real central service on loopback, then without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from appliance.cli import main
from central.app import create_app
from central.settings import CentralServiceSection
from central.store import CentralStore
from central.testing import run_server
from dossier.client import CentralClient
from dossier.model import VN_TZ, Status
from tests.dossier.factory import make_dossier


def write_config(path: Path, url: str, data: Path, api_key: str = "") -> Path:
    path.write_text(
        f'[device]\ndata_dir = "{data}"\n[central]\nurl = "{url}"\nretries = 0\nconnect_timeout = 1.0\n'
        f'api_key = "{api_key}"\n'
        "[cache]\nfresh_seconds = 0.0\n[lookup]\ncentral_deadline = 1.0\n",
        encoding="utf-8",
    )
    return path


def enrolled_key(store_path: Path, url: str) -> str:
    """Enrol a device with the central service at ``url`` (reads need a device key); its API key."""
    store = CentralStore(store_path)
    try:
        token = store.create_enrollment_token(datetime.now(VN_TZ), timedelta(hours=1))
    finally:
        store.close()
    return CentralClient(url, retries=0).enroll(token, "e2e", "both").api_key


def test_synced_code_still_answers_with_its_age_when_central_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = CentralStore(tmp_path / "central.db")
    old = datetime.now(VN_TZ) - timedelta(days=400)
    closed = [make_dossier(n, status=Status.RETURNED, updated_at=old) for n in (11, 12)]
    store.bulk_insert([make_dossier(n) for n in range(1, 11)] + closed, datetime.now(VN_TZ))
    store.close()
    code = make_dossier(3).code
    with run_server(create_app(CentralServiceSection(), db_path=tmp_path / "central.db")) as url:
        key = enrolled_key(tmp_path / "central.db", url)
        cfg = write_config(tmp_path / "c.toml", url, tmp_path / "data", key)
        assert main(["--config", str(cfg), "sync", "--once"]) == 0
        out = capsys.readouterr().out
        assert "10 dossiers cached" in out
        assert "closed dossiers past retention are not cached" in out  # why 12 received, 10 cached
        assert main(["--config", str(cfg), "lookup", code.replace(".", " ").lower()]) == 0
        out = capsys.readouterr().out
        assert code in out and "Nguyễn V. A." in out and "Đang giải quyết" in out
    # central is gone now
    assert main(["--config", str(cfg), "lookup", code, "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["source"] == "stale" and answer["as_of"] and answer["age_seconds"] >= 0
    assert answer["dossier"]["code"] == code and answer["dossier"]["applicant_name"] == "Nguyễn V. A."
    assert not any("hash" in key for key in answer["dossier"])
    assert main(["--config", str(cfg), "lookup", code, "--json", "--unmasked"]) == 0  # a technician
    answer = json.loads(capsys.readouterr().out)
    assert answer["dossier"]["applicant_name"] == "Nguyễn Văn An"
    assert not any("hash" in key for key in answer["dossier"])
    assert main(["--config", str(cfg), "lookup", make_dossier(99).code]) == 4
    assert "Chưa tra cứu được" in capsys.readouterr().out


def test_config_check_warns_when_others_can_read_its_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path / "c.toml", "http://127.0.0.1:9", tmp_path / "data", "dev_key_0123456789")
    os.chmod(cfg, 0o644)
    assert main(["--config", str(cfg), "config", "check"]) == 0  # still valid: a warning, not an error
    captured = capsys.readouterr()
    assert "configuration OK" in captured.out
    [warning] = captured.err.strip().splitlines()
    assert warning.startswith("WARNING: ") and f"chmod 600 {cfg}" in warning and "central.api_key" in warning
    assert "dev_key_0123456789" not in warning
    os.chmod(cfg, 0o600)
    assert main(["--config", str(cfg), "config", "check"]) == 0
    assert capsys.readouterr().err == ""


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
