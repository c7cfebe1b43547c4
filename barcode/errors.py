"""Barcode-specific members of the project's error tree (dossier.errors)."""

from __future__ import annotations

from dossier.errors import HardwareUnavailable, InvalidInput, NeedsTechnician, TemporaryError


class DecodeError(TemporaryError):
    """One decoder failed on one frame (a foreign library raised); the pipeline logs it and goes on."""


class DecoderUnavailable(NeedsTechnician):
    """A configured decoder cannot be loaded (library or its system package missing)."""


class FeatureUnavailable(NeedsTechnician):
    """An optional feature needs a package that is not installed (e.g. evdev); the message says which."""


class ImageUnreadable(InvalidInput):
    """A file given to ``scan image`` is missing or not an image."""


class ScannerUnavailable(HardwareUnavailable):
    """A camera or scanner is absent or stopped answering; it may come back by itself."""
