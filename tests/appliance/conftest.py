"""Fixtures shared with the barcode tests (the scan commands read the same synthetic corpus)."""

from __future__ import annotations

from tests.barcode.conftest import corpus

__all__ = ["corpus"]
