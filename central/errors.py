"""Errors of the central reference service, as subclasses of the project's one error tree."""

from __future__ import annotations

from dossier.errors import CursorExpired, InvalidInput


class Unauthorized(InvalidInput):
    """A missing, unknown or used credential (API key, admin token, enrollment token): HTTP 401."""


class NotFound(InvalidInput):
    """The thing asked for does not exist: HTTP 404."""


class BadCursor(InvalidInput):
    """A changes-feed cursor that this service did not issue (damaged or forged): HTTP 400."""


class StaleCursor(CursorExpired):
    """A cursor older than the retained change log, from a reset database or for other agencies: 410."""


class TooLarge(InvalidInput):
    """A request body over the configured limit: HTTP 413."""
