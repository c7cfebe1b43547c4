"""``scan image``, ``scan keyboard`` (through a real pipe) and ``scan camera`` without a camera."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

from appliance.commands.scan import register, scan_camera, scan_image
from appliance.config import Config

CODE = "000.00.15.H56-240315-0001"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="motcua")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_scan_image_json_one_object_per_file(corpus, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, truths = corpus
    easy = next(t for t in truths if t.split == "easy" and t.kind == "qr")
    bad_date = next(t for t in truths if t.kind == "qr_bad_date")
    blank = next(t for t in truths if t.kind == "blank")
    junk = tmp_path / "junk.jpg"
    junk.write_text("hello")
    files = [str(folder / easy.file), str(junk), str(folder / bad_date.file), str(folder / blank.file)]
    args = parse(["scan", "image", *files, "--json"])
    out = io.StringIO()
    assert args.handler(args, Config(), out=out) == 1  # one unreadable file: non-zero, but all processed
    docs = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [d["file"] for d in docs] == files
    assert docs[0]["code"] == easy.expected_code and docs[0]["decoded"][0]["symbology"] == "qr"
    assert len(docs[0]["decoded"][0]["quad"]) == 4
    assert "not an image" in docs[1]["error"]
    if docs[2]["decoded"]:  # a hard negative may be unreadable; if read, it must say why it is no code
        assert docs[2]["code"] is None and "not a date" in docs[2]["reason"]
    assert docs[3]["code"] is None and docs[3]["reason"].startswith("no barcode found")


def test_scan_image_text_output(corpus) -> None:  # type: ignore[no-untyped-def]
    folder, truths = corpus
    easy = next(t for t in truths if t.split == "easy" and t.kind == "qr_vietnamese")
    out = io.StringIO()
    assert scan_image(parse(["scan", "image", str(folder / easy.file)]), Config(), out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{folder / easy.file}: code {easy.expected_code}"
    assert lines[1].startswith("  qr: 'Giấy tiếp nhận")


def test_scan_keyboard_through_a_pipe() -> None:
    script = (
        "import sys; from appliance.commands.scan import scan_keyboard; from appliance.config import Config;"
        "sys.exit(scan_keyboard(None, Config()))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdin is not None
    # Two scanner bursts, each arriving at once. Telling a person's typing apart by timing is tested
    # with explicit key times in tests/barcode/test_wedge.py: through a pipe it would depend on scheduling.
    proc.stdin.write(f"]C0{CODE}\n".encode())
    proc.stdin.flush()
    proc.stdin.write(b"https://zalo.me/g/12345\n")
    proc.stdin.close()  # end of input, like Ctrl-D
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.wait(timeout=30) == 0, err
    lines = out.decode().splitlines()
    assert lines[0].startswith("SCAN") and f"code {CODE}" in lines[0] and "keyboard/code128" in lines[0]
    assert lines[1].startswith("SCAN") and "not a dossier code" in lines[1]


def test_scan_camera_without_a_camera_says_so(capsys) -> None:  # type: ignore[no-untyped-def]
    args = parse(["scan", "camera", "--device", "/dev/video-does-not-exist", "--seconds", "1"])
    assert scan_camera(args, Config()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be opened" in err


def test_scan_keyboard_on_a_terminal_uses_cbreak_and_quits_on_ctrl_d() -> None:
    import os

    master, slave = os.openpty()
    script = (
        "import sys; from appliance.commands.scan import scan_keyboard; from appliance.config import Config;"
        "sys.exit(scan_keyboard(None, Config()))"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=slave, stdout=subprocess.PIPE)
    os.close(slave)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().startswith("type, or scan")  # cbreak mode is on now
        os.write(master, f"{CODE}\r".encode())  # no line buffering: the burst arrives before any Enter
        os.write(master, b"\x04")
        out = proc.stdout.read().decode()
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(master)
    assert f"code {CODE}" in out
