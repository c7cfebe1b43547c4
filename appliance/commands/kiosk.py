"""``motcua kiosk run`` and ``motcua kiosk screenshots``. Kivy is imported inside the handlers only.

Screenshots: Kivy fixes the window size when the window is created, so each size is rendered by its own
child process (``motcua kiosk screenshots --size WxH``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from appliance.commands import EXIT_FAILED, EXIT_INPUT, EXIT_OK
from appliance.config import Config

DEFAULT_SIZES = ("800x480", "1280x800")
SHOT_TIMEOUT_S = 600


def register(sub: Any) -> None:
    """Add the ``kiosk`` command group."""
    kiosk = sub.add_parser("kiosk", help="the citizens' touchscreen kiosk")
    ksub = kiosk.add_subparsers(dest="kiosk_command", metavar="COMMAND", required=True)
    run = ksub.add_parser("run", help="run the kiosk (full screen; --windowed for development)")
    run.add_argument("--windowed", action="store_true", help="a normal window instead of full screen")
    run.set_defaults(handler=run_command)
    shots = ksub.add_parser("screenshots", help="render every screen to PNG files, offscreen, on demo data")
    shots.add_argument("--out", required=True, type=Path, help="folder for the PNG files")
    shots.add_argument(
        "--size",
        action="append",
        metavar="WxH",
        help=f"window size; repeat for several (default: {' and '.join(DEFAULT_SIZES)})",
    )
    shots.set_defaults(handler=screenshots_command)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size {text!r} is not WIDTHxHEIGHT (e.g. 800x480)") from None
    if not (320 <= w <= 7680 and 240 <= h <= 4320):
        raise ValueError(f"--size {text} is out of range")
    return w, h


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Run the kiosk until the process is stopped (systemd) or, windowed, the window is closed."""
    from appliance.kiosk_wiring import run_kiosk

    return run_kiosk(config, windowed=args.windowed)


def screenshots_command(args: argparse.Namespace, config: Config) -> int:
    """Render the screens at each size (one child process per size when more than one)."""
    texts = args.size or list(DEFAULT_SIZES)
    try:
        sizes = [_size(t) for t in texts]
    except ValueError as err:
        print(f"motcua: {err}", file=sys.stderr)
        return EXIT_INPUT
    out: Path = args.out
    if len(sizes) == 1:
        from appliance.kiosk_wiring import render_screenshots

        written, problems = render_screenshots(config, out, size=sizes[0])
        print(f"{len(written)} screenshots at {sizes[0][0]}x{sizes[0][1]} written to {out}")
        for problem in problems:
            print(f"accessibility: {problem}", file=sys.stderr)
        return EXIT_FAILED if problems else EXIT_OK
    status = EXIT_OK
    for w, h in sizes:
        cmd = [sys.executable, "-m", "appliance.cli"]
        if args.config:
            cmd += ["--config", str(args.config)]
        cmd += [
            "--data-dir",
            str(config.data_dir),
            "kiosk",
            "screenshots",
            "--out",
            str(out),
            "--size",
            f"{w}x{h}",
        ]
        env = dict(os.environ, SDL_VIDEODRIVER="offscreen")
        try:
            done = subprocess.run(cmd, env=env, timeout=SHOT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            print(f"motcua: screenshots at {w}x{h} took longer than {SHOT_TIMEOUT_S} s", file=sys.stderr)
            status = EXIT_FAILED
            continue
        if done.returncode != 0:
            status = EXIT_FAILED
    return status
