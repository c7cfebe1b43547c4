"""Kiosk benchmark (issue 8 §9): scan to result drawn, cold start, memory over 1,000 lookups.

``python bench/kiosk_bench.py`` runs each part in its own process (clean memory figures), offscreen:
- scan → result drawn, cache hit: a scan delivered as a scanner thread does, until the frame showing the
  new result has been drawn (median; goal < 100 ms);
- cold start: a new process to the first drawn welcome screen, as ``motcua kiosk run`` builds it
  (median of 3; goal < 3 s);
- RSS after 1,000 lookups with the camera reader decoding synthetic 1280×720 frames at 15 fps
  (goal < 200 MB, and < 5 MB growth between the 100th and the 1,000th lookup).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOOKUPS = int(os.environ.get("KIOSK_BENCH_LOOKUPS", "1000"))
LATENCY_SAMPLES = 60


def memory_mb() -> dict[str, float]:
    """VmRSS, and its private (RssAnon) and file-backed (RssFile: shared libraries, mmaps) parts, in MB."""
    out: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile"):
                out[key] = int(line.split()[1]) / 1024
    return out


def _config(data_dir: str) -> Any:
    from appliance.config import config_from_dict

    return config_from_dict(
        {"device": {"data_dir": data_dir}, "kiosk": {"fullscreen": False, "speech_enabled": False}}
    )


def make_cache(data_dir: str, n: int) -> None:
    """``<data_dir>/cache.db`` with ``n`` synthetic dossiers (made in the parent: the measured processes
    import only what a kiosk imports)."""
    from datetime import datetime

    from central.testing import synthetic_dossiers
    from dossier.cache import Cache
    from dossier.model import VN_TZ

    cache = Cache(Path(data_dir) / "cache.db")
    for d in synthetic_dossiers(n, ["000.00.15.H56", "000.17.15.H56"], datetime.now(VN_TZ)):
        cache.put(d)
    cache.close()


def _kiosk(data_dir: str, *, camera: bool) -> tuple[Any, Any, list[str]]:
    """A kiosk over the real cache in ``data_dir`` (and, with ``camera``, the camera reader running)."""
    from appliance import kiosk_wiring
    from dossier.cache import Cache
    from dossier.lookup import LookupService
    from kiosk import kivy_setup

    config = _config(data_dir)
    kivy_setup.configure(config.kiosk, headless=True)
    from kivy.base import EventLoop
    from kivy.core.window import Window

    EventLoop.ensure_window()
    cache = Cache(Path(data_dir) / "cache.db")
    with sqlite3.connect(Path(data_dir) / "cache.db") as conn:
        codes = [code for (code,) in conn.execute("SELECT code FROM dossiers ORDER BY code")]
    lookup = LookupService(cache, source=None)  # type: ignore[arg-type]  # cache hits only
    parts = kiosk_wiring.make_kiosk_parts(config, lookup, None, scanners=False, speech=False)
    if camera:
        parts.scans = _camera_scans(config)
    from kiosk.app import KioskApp

    app = KioskApp(parts)
    root = app.build()
    Window.add_widget(root)
    for _ in range(5):
        EventLoop.idle()
    return app, EventLoop, codes


def _camera_scans(config: Any) -> Any:
    import queue

    import numpy as np

    from appliance.kiosk_wiring import BarcodeScans
    from barcode.camera import CameraScanner, ReplayFrameSource
    from barcode.pipeline import DecodePipeline

    rng = np.random.default_rng(8)
    frames = [rng.integers(0, 255, (720, 1280, 3), dtype=np.uint8) for _ in range(4)]  # nothing to read
    events: queue.Queue[Any] = queue.Queue(maxsize=100)
    camera = CameraScanner(
        ReplayFrameSource(frames, fps=15), DecodePipeline.from_settings(config.barcode), events,
        settings=config.barcode,
    )  # fmt: skip
    return BarcodeScans(config, scanners=[camera], events=events)


def _one_lookup(app: Any, loop: Any, code: str) -> float:
    """Deliver a scan like a scanner thread; seconds until the frame with the new result was drawn."""
    from kiosk.ports import Scan
    from kiosk.session import Screen

    started = time.perf_counter()
    app._from_scanner(Scan(code, "", "camera"))
    deadline = started + 10
    while True:
        loop.idle()
        r = app.session.result
        if (
            app.session.screen is Screen.RESULT
            and r is not None
            and r.code == code
            and app.drawn_at > started
        ):
            loop.idle()  # the frame drawn after the refresh
            return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no result for {code} within 10 s")


def part_latency() -> dict[str, Any]:
    """Scan → result drawn for cache hits."""
    app, loop, codes = _kiosk(os.environ["KIOSK_BENCH_DATA"], camera=False)
    times = [_one_lookup(app, loop, codes[i * 7 % len(codes)]) for i in range(LATENCY_SAMPLES + 5)][5:]
    app.dispatch("on_stop")
    times.sort()
    return {"median_ms": statistics.median(times) * 1000, "p90_ms": times[int(len(times) * 0.9)] * 1000}


def part_rss() -> dict[str, Any]:
    """RSS after 100 and 1,000 lookups with the camera reader running."""
    app, loop, codes = _kiosk(os.environ["KIOSK_BENCH_DATA"], camera=True)
    marks: dict[int, dict[str, float]] = {0: memory_mb()}
    window: list[dict[str, float]] = []
    for i in range(1, LOOKUPS + 1):
        _one_lookup(app, loop, codes[i * 13 % len(codes)])
        window = [*window[-19:], memory_mb()]
        if i in (100, 500, LOOKUPS):  # the median of the last 20 readings: the camera's buffers come and go
            marks[i] = sorted(window, key=lambda m: m["VmRSS"])[len(window) // 2]
            marks[i]["peak"] = max(m["VmRSS"] for m in window)
    frames = app.parts.scans.scanners[0].stats
    app.dispatch("on_stop")
    return {"memory": marks, "camera": str(frames)[:200]}


def part_ready() -> dict[str, Any]:
    """In a fresh process: build the kiosk as ``motcua kiosk run`` does and report the first frame."""
    from kiosk import kivy_setup

    started = float(os.environ["KIOSK_BENCH_T0"])
    config = _config(os.environ["KIOSK_BENCH_DATA"])
    kivy_setup.configure(config.kiosk, headless=True)
    from appliance import kiosk_wiring, wiring

    cache = wiring.open_cache(config)
    client = wiring.make_client(config)
    lookup = wiring.make_lookup(config, cache, client)
    parts = kiosk_wiring.make_kiosk_parts(config, lookup, client, speech=False)
    from kivy.clock import Clock

    from kiosk.app import KioskApp

    app = KioskApp(parts)
    seen: dict[str, float] = {}

    def drawn(_dt: float) -> None:
        seen["t"] = time.time()
        app.stop()

    def built(_dt: float) -> None:
        Clock.schedule_once(drawn, 0)  # runs after the first frame has been drawn

    Clock.schedule_once(built, 0)
    app.run()
    return {"ready_s": seen["t"] - started}


def _run_part(name: str, data: str) -> dict[str, Any]:
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_FILELOG="1",
               KCFG_KIVY_LOG_LEVEL="error", KIOSK_BENCH_DATA=data, KIOSK_BENCH_T0=repr(time.time()))  # fmt: skip
    done = subprocess.run(
        [sys.executable, __file__, "--part", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"part {name} failed ({done.returncode}): {done.stderr[-1500:]}")
    return dict(json.loads(lines[-1]))


def main() -> int:
    """Run the parts and print figures against the goals."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=("latency", "rss", "ready"))
    args = parser.parse_args()
    if args.part:
        result = {"latency": part_latency, "rss": part_rss, "ready": part_ready}[args.part]()
        print(json.dumps(result), flush=True)
        return 0
    print("kiosk benchmark (offscreen, Mesa llvmpipe; this machine)")
    with tempfile.TemporaryDirectory() as data:
        make_cache(data, 2000)
        return _report(data)


def _report(data: str) -> int:
    lat = _run_part("latency", data)
    print(f"  scan -> result drawn (cache hit): median {lat['median_ms']:.1f} ms, p90 {lat['p90_ms']:.1f} ms"
          f"   goal < 100 ms median  {'OK' if lat['median_ms'] < 100 else 'MISSED'}")  # fmt: skip
    ready = sorted(_run_part("ready", data)["ready_s"] for _ in range(3))
    print(f"  cold start -> welcome drawn: median {ready[1]:.2f} s (runs: {', '.join(f'{r:.2f}' for r in ready)})"
          f"   goal < 3 s  {'OK' if ready[1] < 3 else 'MISSED'}")  # fmt: skip
    rss = _run_part("rss", data)
    marks = {int(k): v for k, v in rss["memory"].items()}
    growth = marks[LOOKUPS]["VmRSS"] - marks[100]["VmRSS"]
    shown = ", ".join(f"{k or 'start'}: {v['VmRSS']:.0f}" for k, v in marks.items())
    last = marks[LOOKUPS]
    print(f"  RSS (MB) with the camera reader decoding 1280x720 frames, by lookups done: {shown}")
    print(f"    after {LOOKUPS}: {last['VmRSS']:.0f} MB = {last['RssAnon']:.0f} private + {last['RssFile']:.0f}"
          f" file-backed (shared libraries: Mesa's llvmpipe/LLVM, OpenCV, ...); peak {last['peak']:.0f} MB"
          f" (medians of the last 20 readings)")  # fmt: skip
    print(f"    goal < 200 MB  {'OK' if last['VmRSS'] < 200 else 'MISSED'};"
          f" growth 100th -> {LOOKUPS}th {growth:+.1f} MB, goal < 5 MB  {'OK' if growth < 5 else 'MISSED'}")  # fmt: skip
    print(f"    camera: {rss['camera']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
