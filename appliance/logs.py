"""Logging setup: one handler to stderr (journald keeps it), level from config."""

from __future__ import annotations

import logging
import sys

from dossier.errors import ConfigError

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the record, never to a stream since closed."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record to the current standard error."""
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(level: str = "INFO") -> None:
    """Send records at ``level`` and above to stderr; quiet chatty libraries unless DEBUG."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(
            f"logging.level: {level!r} is not a level", hint="use DEBUG, INFO, WARNING or ERROR"
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _StderrHandler):  # ours from an earlier call; others' handlers stay
            root.removeHandler(old)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(numeric)
    quiet = logging.WARNING if numeric > logging.DEBUG else logging.DEBUG
    # Third-party loggers that print protocol traffic or clear phone numbers stay quiet in production.
    for name in ("urllib3", "gsmmodem", "uvicorn.access", "multipart", "kivy"):
        logging.getLogger(name).setLevel(quiet)
