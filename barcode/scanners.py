"""The scanners a device has, built from ``[barcode]``: all feed one ``queue.Queue[ScanEvent]``."""

from __future__ import annotations

import queue
from collections.abc import Sequence
from typing import Protocol

from barcode.events import CodeExtractor, ScanEvent
from barcode.settings import BarcodeSection
from dossier.codes import CodeParser


class Scanner(Protocol):
    """A device owner thread that puts ``ScanEvent``s on a queue."""

    @property
    def state(self) -> str:
        """stopped | starting | running | unavailable."""
        ...

    def start(self) -> None:
        """Start the owner thread."""
        ...

    def stop(self, timeout: float = ...) -> bool:
        """Stop and join; False if the thread did not end in time."""
        ...


def build_scanners(
    settings: BarcodeSection, events: queue.Queue[ScanEvent], extra_patterns: Sequence[str] = ()
) -> list[Scanner]:
    """The enabled camera, serial and exclusive-evdev scanners (not started).

    Keyboard-wedge input that reaches the UI is not a thread: the kiosk feeds its keys to
    ``barcode.wedge.WedgeDetector`` and turns ``WedgeScan``s into events with ``CodeExtractor``.
    Raises ``DecoderUnavailable`` or ``FeatureUnavailable`` when a configured part cannot be loaded.
    """
    extractor = CodeExtractor(CodeParser(extra_patterns))
    scanners: list[Scanner] = []
    if settings.camera_enabled:
        from barcode.camera import CameraScanner, OpenCvCamera
        from barcode.pipeline import DecodePipeline

        source = OpenCvCamera.from_settings(settings)
        pipeline = DecodePipeline.from_settings(settings)
        scanners.append(CameraScanner(source, pipeline, events, settings=settings, extractor=extractor))
    if settings.serial_enabled and settings.serial_port:
        from barcode.serial_scanner import SerialScanner

        scanners.append(SerialScanner.from_settings(settings, events, extractor))
    if settings.wedge_enabled and settings.wedge_evdev_device:
        from barcode.evdev_reader import EvdevScanner

        scanners.append(
            EvdevScanner(settings.wedge_evdev_device, events, settings=settings, extractor=extractor)
        )
    return scanners
