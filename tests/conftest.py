"""Test-wide fixtures: every test starts with the root logger as pytest set it up."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _isolated_logging() -> Iterator[None]:
    """``motcua`` commands run in-process call ``setup_logging``; undo it after each test, so that one
    test's handler and level never decide what the next test's captured output holds."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
