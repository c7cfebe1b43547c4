"""The stack `make run` starts: central with demo data, sync, and the SMS gateway on an emulated modem.

Run as a newcomer does: on a terminal (a pseudo-terminal here) and without ``--interactive``.
"""

from __future__ import annotations

import os
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


def test_make_run_on_a_terminal_lets_a_citizen_text_the_gateway(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[device]\ndata_dir = "{tmp_path / "data"}"\n[central]\nurl = "http://127.0.0.1:{port}"\n'
        f"[central_service]\nport = {port}\ndemo_dossiers = 300\ndemo_activity_seconds = 0.0\n",
        encoding="utf-8",
    )
    master, slave = os.openpty()  # stdin is a terminal: interactive by default
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "--config", str(cfg), "run"],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        code = register = ""
        deadline = time.monotonic() + 120

        def read_until(pattern: str) -> str:
            while time.monotonic() < deadline:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                assert line, (
                    f"the stack stopped early: {''.join(lines)}{proc.stderr.read() if proc.stderr else ''}"
                )
                lines.append(line)
                if re.search(pattern, line):
                    return line
            raise AssertionError(f"no line matching {pattern!r} in time: {''.join(lines)}")

        read_until(r"^sync: \d+ received")
        note = read_until(r"not stored|dossiers cached|SMS gateway")
        if "not stored" in note:
            assert "closed dossiers past retention are not cached" in note
        while not code:
            found = re.search(r"motcua lookup (\S+) +# Đang giải quyết", read_until(r"motcua lookup"))
            code = found.group(1) if found else ""
        register = read_until(r"> DK ").split(":  ", 1)[1].strip()
        read_until(r"Ctrl-D")
        os.write(master, f"0912345678> tra cuu {code.lower().replace('.', ' ')}\n".encode())
        reply = read_until(r"^<< to 0912345678")
        assert f"HS {code}: Dang giai quyet" in reply, "".join(lines)
        os.write(master, f"{register}\n".encode())  # the DK line the stack printed works as printed
        phone = register.split(">", 1)[0]
        assert "Da dang ky nhan tin" in read_until(rf"^<< to {phone}"), "".join(lines)
        os.write(master, b"\x04")  # Ctrl-D: end of input, the stack stops cleanly
        assert proc.wait(timeout=60) == 0
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in stderr and "0912345678" not in stderr and phone not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(master)


def test_run_is_interactive_by_default_only_on_a_terminal() -> None:
    from appliance.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["run"]).interactive is None  # decided by stdin.isatty() in run_stack
    assert parser.parse_args(["run", "--no-interactive"]).interactive is False
    assert parser.parse_args(["run", "--interactive"]).interactive is True
