"""The ``motcua`` command groups: one module per group, each with ``register(sub)``.

A group module imports only argparse and light modules at import time; a part's heavy libraries (numpy,
OpenCV, the modem library, FastAPI, Kivy, rich) are imported inside the handlers that use them, so that
``motcua lookup`` starts fast. Handlers are ``fn(args: argparse.Namespace, config: Config) -> int``.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_TECHNICIAN, EXIT_UNAVAILABLE = 0, 1, 2, 3, 4
GROUPS = ("core", "central", "sms", "scan", "kiosk", "provision", "doctor", "health", "backup")
