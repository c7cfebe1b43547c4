"""``motcua health show`` and ``motcua health run`` as a real process (metrics served, SIGTERM stops it)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from appliance.cli import main
from tests.health.conftest import free_port


def write_config(tmp_path: Path, port: int = 9466, role: str = "kiosk") -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[device]\nname = "dev-c"\nrole = "{role}"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[central]\nurl = "http://127.0.0.1:{free_port()}"\napi_key = "k"\nconnect_timeout = 0.5\n'
        f"[health]\nport = {port}\nheartbeat_interval = 600.0\n"
    )
    return config


def test_health_show_prints_the_next_heartbeat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "doctor.json").write_text("not json")
    assert main(["--config", str(config), "health", "show", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["role"] == "kiosk"
    assert body["metrics"]["cache_dossiers"] == 0
    assert body["checks"][0]["name"] == "doctor_record"  # malformed doctor.json: reported, not fatal
    assert all(body["source_up"].values())
    assert main(["--config", str(config), "health", "show"]) == 0
    text = capsys.readouterr().out
    assert "disk_free_bytes" in text and "doctor: warn: doctor_record" in text


def test_health_run_serves_metrics_on_loopback_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port=port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--config", str(config), "health", "run"],
        cwd=Path(__file__).parents[2],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        waiter = threading.Event()
        text = ""
        while 'motcua_central_link{state="failing"} 1.0' not in text:  # central is down
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "metrics were not served within 30 s"
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except requests.ConnectionError:
                waiter.wait(0.05)
        assert 'motcua_info{device="dev-c"' in text
        assert "motcua_heartbeat_queue_depth 1.0" in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    err = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in err
