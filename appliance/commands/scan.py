"""``motcua scan image|camera|keyboard``: what the decoders and the wedge detector make of real input.

Moved here from ``barcode/cli.py``. numpy, OpenCV and the decoders are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import select
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from appliance.commands import EXIT_FAILED, EXIT_OK
from appliance.config import Config

if TYPE_CHECKING:
    from barcode.events import CodeExtractor
    from barcode.settings import BarcodeSection
    from barcode.wedge import WedgeDetector

IMAGE_BUDGET_MS = 400.0  # a still image may take longer than a camera frame
SHOWN_CHARS = 120  # human output shortens longer payloads (and says so); JSON carries them whole


def register(sub: Any) -> None:
    """Add the ``scan`` command group to the main CLI."""
    scan = sub.add_parser("scan", help="read barcodes from images, a camera or a keyboard scanner")
    ssub = scan.add_subparsers(dest="scan_command", metavar="COMMAND", required=True)
    image = ssub.add_parser("image", help="decode image files and show the dossier code found or why not")
    image.add_argument("files", nargs="+", metavar="FILE")
    image.add_argument(
        "--json", action="store_true", help="one JSON object per file and line (full decoded text)"
    )
    image.add_argument(
        "--budget-ms", type=float, default=IMAGE_BUDGET_MS, help="decode time allowed per image"
    )
    image.set_defaults(handler=scan_image)
    camera = ssub.add_parser("camera", help="show live decodes from the configured camera (Ctrl-C stops)")
    camera.add_argument("--device", help="override barcode.camera_device")
    camera.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: until Ctrl-C)")
    camera.set_defaults(handler=scan_camera)
    keyboard = ssub.add_parser("keyboard", help="show what the wedge detector makes of keys typed or scanned")
    keyboard.set_defaults(handler=scan_keyboard)


def _settings(config: Config) -> BarcodeSection:
    return config.barcode


def _extractor(config: Config) -> CodeExtractor:
    from appliance.wiring import make_parser
    from barcode.events import CodeExtractor

    return CodeExtractor(make_parser(config))


def shorten(text: str) -> str:
    """``text`` for a terminal line: whole when short, else its start and how long it really is."""
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"{text[: SHOWN_CHARS - 3]!r}... ({len(text)} characters, shortened here; --json shows all)"


def scan_image(args: argparse.Namespace, config: Config, out: TextIO | None = None) -> int:
    """Decode each file; per file the symbols read and the dossier code or the reason; 1 if a file failed."""
    from barcode.errors import ImageUnreadable
    from barcode.pipeline import DecodePipeline, load_image_scaled  # OpenCV loads only for images
    from dossier.errors import MotcuaError

    out = out or sys.stdout
    settings = _settings(config)
    extractor = _extractor(config)
    try:
        pipeline = DecodePipeline.from_settings(settings)
    except MotcuaError as err:
        print(f"scan: {err}", file=sys.stderr)
        return EXIT_FAILED
    failed = 0
    for name in args.files:
        try:
            image, scale = load_image_scaled(name, max_pixels=settings.max_image_pixels)
        except ImageUnreadable as err:
            failed += 1
            if args.json:
                print(json.dumps({"file": name, "error": str(err)}, ensure_ascii=False), file=out)
            else:
                print(f"{err}", file=out)
            continue
        result = pipeline.decode(image, budget_ms=args.budget_ms)
        events = [
            (
                d if scale == 1.0 else d.shifted(0, 0, scale),  # corners in the file's pixels
                extractor.event(d.text, source="image", symbology=d.symbology, binary=d.binary),
            )
            for d in result.results
        ]
        found = next((e for _, e in events if e.code), None)
        if not events:
            names = ", ".join(settings.symbologies)
            reason = f"no barcode found ({names})"
        else:
            reason = "" if found else events[0][1].reason
        if args.json:
            doc = {
                "file": name,
                "decoded": [
                    {**e.to_dict(), "text": d.text, "quad": [list(p) for p in d.quad], "decoder": d.decoder}
                    for d, e in events
                ],
                "code": found.code.value if found and found.code else None,
                "reason": reason,
                "ms": round(result.elapsed_ms, 1),
            }
            print(json.dumps(doc, ensure_ascii=False), file=out)
            continue
        head = f"{name}: " + (f"code {found.code.value}" if found and found.code else reason)
        print(head, file=out)
        for d, e in events:
            verdict = f"code {e.code.value}" if e.code else e.reason
            print(f"  {d.symbology}: {shorten(d.text)} -> {verdict}", file=out)
    return EXIT_FAILED if failed else EXIT_OK


def scan_camera(args: argparse.Namespace, config: Config) -> int:
    """Live decodes for a technician until Ctrl-C (or ``--seconds``); one line if there is no camera."""
    import queue

    from barcode.camera import CameraScanner, OpenCvCamera
    from barcode.events import ScanEvent
    from barcode.pipeline import DecodePipeline
    from dossier.errors import MotcuaError

    settings = _settings(config)
    source = OpenCvCamera.from_settings(settings)
    if args.device:
        source = OpenCvCamera(
            int(args.device) if args.device.isdigit() else args.device,
            settings.camera_width,
            settings.camera_height,
            settings.camera_fps,
        )
    try:
        source.open()
        source.close()
        pipeline = DecodePipeline.from_settings(settings)
    except MotcuaError as err:
        print(f"scan camera: {err}", file=sys.stderr)
        return EXIT_FAILED
    events: queue.Queue[ScanEvent] = queue.Queue(maxsize=100)
    scanner = CameraScanner(source, pipeline, events, settings=settings, extractor=_extractor(config))
    scanner.start()
    print("reading the camera; Ctrl-C stops", flush=True)
    started = last_status = time.monotonic()
    try:
        while not args.seconds or time.monotonic() - started < args.seconds:
            with contextlib.suppress(queue.Empty):
                print(events.get(timeout=0.5).describe(), flush=True)
            if time.monotonic() - last_status >= 5:
                last_status = time.monotonic()
                s = scanner.stats
                avg = s.decode_ms / s.decoded if s.decoded else 0.0
                print(
                    f"  [{scanner.state}] frames {s.frames}, decoded {s.decoded}, skipped {s.skipped}, "
                    f"{avg:.1f} ms per decode",
                    flush=True,
                )
    except KeyboardInterrupt:
        pass
    finally:
        scanner.stop()
    return EXIT_OK


def scan_keyboard(
    args: argparse.Namespace | None, config: Config, stdin: TextIO | None = None, out: TextIO | None = None
) -> int:
    """Feed stdin keys with their arrival times to the wedge detector; Ctrl-D or Ctrl-C quits."""
    from barcode.wedge import WedgeDetector, WedgeScan

    stdin = stdin or sys.stdin
    out = out or sys.stdout
    detector = WedgeDetector.from_settings(_settings(config))
    extractor = _extractor(config)
    fd = stdin.fileno()
    restore = None
    if os.isatty(fd):
        import termios
        import tty

        restore = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        print("type, or scan with a keyboard scanner; Ctrl-D or Ctrl-C quits", file=out, flush=True)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def show(outputs: list[Any]) -> None:
        """Print what the detector made of the keys."""
        for output in outputs:
            if isinstance(output, WedgeScan):
                event = extractor.event(output.text, source="keyboard", symbology=output.symbology)
                ms = (output.ended - output.started) * 1000
                print(f"SCAN in {ms:.0f} ms: {event.describe()}", file=out, flush=True)
            else:
                print(f"typed: {output.text!r}", file=out, flush=True)

    try:
        while True:
            deadline = detector.deadline()
            wait = 0.5 if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], wait)
            if not ready:
                show(detector.poll(time.monotonic()))
                continue
            chunk = os.read(fd, 4096)
            now = time.monotonic()
            if not chunk:
                break
            text = decoder.decode(chunk)
            if "\x04" in text:
                show(_feed_all(detector, text.split("\x04", 1)[0], now))
                break
            show(_feed_all(detector, text, now))
    except KeyboardInterrupt:
        pass
    finally:
        if restore is not None:
            import termios

            termios.tcsetattr(fd, termios.TCSADRAIN, restore)
    show(detector.poll(float("inf")))
    return EXIT_OK


def _feed_all(detector: WedgeDetector, text: str, now: float) -> list[Any]:
    """Feed characters that arrived together; control characters become named keys that end a burst."""
    outputs: list[Any] = []
    for ch in text:
        key = ch if ch in "\n\r\t" or ord(ch) >= 32 else f"ctrl-{ord(ch) + 64:c}"
        outputs += detector.feed(key, now)
    return outputs
