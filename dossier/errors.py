"""The project's one error tree, classified by what the caller does next.

- ``InvalidInput``: the person (citizen, technician) gave something wrong; show ``str(err)``, no traceback.
- ``TemporaryError``: try again later; nothing is wrong with the request itself.
- ``CentralError``: the central API could not give a trustworthy answer; serve the cache.
- ``NeedsTechnician``: the device cannot do its job until someone fixes something (config, hardware, auth).

Foreign exceptions (requests, sqlite3, serial, gsmmodem, cv2) are translated into these at the one
module that talks to each foreign library; nothing else catches them.
"""

from __future__ import annotations


class MotcuaError(Exception):
    """Root of every error raised on purpose by motcua-edge."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidInput(MotcuaError):
    """A person's input is wrong; the message says what is wrong and how to fix it."""


class InvalidCode(InvalidInput):
    """Text that is not a dossier code; ``reason`` is a short phrase a citizen can read."""

    def __init__(self, reason: str, *, text: str = "") -> None:
        super().__init__(reason, hint="")
        self.reason = reason
        self.text = text


class ConfigError(InvalidInput):
    """The configuration is wrong; the message names the key."""


class TemporaryError(MotcuaError):
    """A transient failure: retry later with backoff."""


class NeedsTechnician(MotcuaError):
    """The device cannot work until a technician acts (hardware, credentials, storage)."""


class HardwareUnavailable(NeedsTechnician, TemporaryError):
    """A device (modem, camera, scanner) is absent or not answering; it may come back by itself."""


class StorageError(NeedsTechnician):
    """The local database cannot be read or written (disk full, corrupt, permissions)."""


class CentralError(MotcuaError):
    """The central API gave no trustworthy answer; callers serve the cache."""


class CentralUnavailable(CentralError, TemporaryError):
    """Central could not be reached in time (connection, timeout, 5xx, 429).

    ``str(err)`` is one short line a person may see; ``detail`` is the library's own text, for the log
    only (once per outage); ``retry_after`` is the wait central asked for (seconds, already capped).
    """

    def __init__(
        self, message: str, *, hint: str = "", detail: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.detail = detail
        self.retry_after = retry_after


class CentralBadResponse(CentralError):
    """Central answered something that breaks the contract (malformed, oversized, wrong type)."""


class CentralRejected(CentralError, NeedsTechnician):
    """Central refused the device (401/403): enrolment or token must be fixed."""


class DossierNotFound(MotcuaError):
    """Central (authoritatively) knows no dossier with this code."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no dossier with code {code}")
        self.code = code


class CursorExpired(CentralError):
    """The changes-feed cursor is too old (HTTP 410): resnapshot."""


class InvalidRecord(MotcuaError):
    """A dossier record (JSON, CSV row, portal payload) does not satisfy the model."""
