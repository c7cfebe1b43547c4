"""The stack `make run` starts: central with demo data, sync, and the SMS gateway on an emulated modem."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_make_run_stack_answers_a_citizens_sms(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[device]\ndata_dir = "{tmp_path / "data"}"\n[central]\nurl = "http://127.0.0.1:{port}"\n'
        f"[central_service]\nport = {port}\ndemo_dossiers = 300\ndemo_activity_seconds = 0.0\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--config", str(cfg), "run", "--interactive"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: list[str] = []
    code = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        assert line, f"the stack stopped early: {proc.stderr.read() if proc.stderr else ''}"
        lines.append(line)
        found = re.search(r"motcua lookup (\S+) +# Đang giải quyết", line)
        if found:
            code = found.group(1)
        if "Ctrl-D" in line and code:
            break
    assert code, "".join(lines)
    proc.stdin.write(f"0912345678> tra cuu {code.lower().replace('.', ' ')}\n")
    proc.stdin.flush()
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("<< to 0912345678"):
            break
    reply = lines[-1]
    assert f"HS {code}: Dang giai quyet" in reply, "".join(lines)
    proc.stdin.close()  # end of input: the stack stops cleanly
    assert proc.wait(timeout=60) == 0
    stderr = proc.stderr.read() if proc.stderr else ""
    assert "Traceback" not in stderr and "0912345678" not in stderr
