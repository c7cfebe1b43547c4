"""ICT staff accounts and sign-in sessions for the fleet page (stored in the fleet database).

Passwords are hashed with scrypt and a per-user random salt (``scrypt$n$r$p$salt$hash``). A session is
a random token kept by the browser in an HttpOnly, SameSite=Strict cookie; central stores only its
SHA-256, with a per-session CSRF token for the forms. The admin token may be exchanged for a session as
user ``admin`` when it is long enough (a default or short token never opens the fleet page).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from central.fleet_store import FleetStore, fleet_path_for
from dossier.errors import InvalidInput

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
USER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 200
ADMIN_USER = "admin"
MIN_ADMIN_TOKEN = 16
SESSION_HOURS = 8.0
MAX_FAILURES = 5
LOCKOUT_SECONDS = 900.0

_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024 * 1024)


def hash_password(password: str) -> str:
    """The stored form of ``password``: scrypt with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False


def check_user(user: str) -> str:
    """The user name, or ``InvalidInput`` saying what a valid one looks like."""
    if not USER_RE.match(user):
        raise InvalidInput(
            f"invalid user name {user[:40]!r}: 2–32 characters, lowercase letters, digits, '.', '_' or '-'"
        )
    return user


def add_staff(store: FleetStore, user: str, password: str, *, replace: bool = False) -> None:
    """Create an ICT staff account (``motcua central staff add USER``); ``replace`` resets a password."""
    check_user(user)
    if user == ADMIN_USER:
        raise InvalidInput("'admin' is reserved for signing in with the admin token; choose another name")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    hashed = hash_password(password)
    with store.writer.transaction() as conn:
        exists = conn.execute("SELECT 1 FROM staff WHERE user = ?", (user,)).fetchone()
        if exists and not replace:
            raise InvalidInput(f"staff account {user} already exists (use replace to set a new password)")
        conn.execute(
            "INSERT INTO staff (user, password, created_at) VALUES (?,?,?) ON CONFLICT(user) DO UPDATE"
            " SET password = excluded.password, disabled = 0",
            (user, hashed, time.time()),
        )
    log.info("staff account %s %s", user, "password reset" if exists else "created")


def remove_staff(store: FleetStore, user: str) -> bool:
    """Delete an account and end its sessions; False when there was no such account."""
    with store.writer.transaction() as conn:
        gone = conn.execute("DELETE FROM staff WHERE user = ?", (user,)).rowcount
        conn.execute("DELETE FROM sessions WHERE user = ?", (user,))
    if gone:
        log.info("staff account %s removed", user)
    return bool(gone)


def list_staff(store: FleetStore) -> list[str]:
    """The account names."""
    with store.reader.reading() as conn:
        return [r[0] for r in conn.execute("SELECT user FROM staff ORDER BY user").fetchall()]


@dataclass(frozen=True)
class Session:
    """A signed-in staff member."""

    user: str
    csrf: str
    expires_at: float


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Throttle:
    """Refuse sign-in for a user name after ``MAX_FAILURES`` failures within ``LOCKOUT_SECONDS``."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, user: str, now: float) -> bool:
        """Whether this user name is locked out now."""
        with self._lock:
            recent = [t for t in self._failures.get(user, []) if now - t < LOCKOUT_SECONDS]
            self._failures[user] = recent
            return len(recent) >= MAX_FAILURES

    def failed(self, user: str, now: float) -> None:
        """Count a failure."""
        with self._lock:
            if len(self._failures) > 10_000:
                self._failures.clear()
            self._failures.setdefault(user, []).append(now)

    def succeeded(self, user: str) -> None:
        """Forget the failures of a user who signed in."""
        with self._lock:
            self._failures.pop(user, None)


class StaffAuth:
    """Sign-in (accounts or the admin token) and sessions over the fleet database."""

    def __init__(self, store: FleetStore, admin_token: str, *, session_hours: float = SESSION_HOURS) -> None:
        self.store = store
        self.admin_token = admin_token
        self.session_seconds = session_hours * 3600
        self.throttle = Throttle()

    def admin_token_usable(self) -> bool:
        """Whether the configured admin token is long enough to open a session."""
        return len(self.admin_token) >= MIN_ADMIN_TOKEN and self.admin_token != "change-me"

    def authenticate(self, user: str, password: str, now: float) -> str:
        """The signed-in user name; raises ``InvalidInput`` with a message for the form."""
        user = user.strip().lower()
        if self.throttle.blocked(user, now):
            raise InvalidInput("too many failed sign-ins for this user; wait 15 minutes")
        ok = False
        if user == ADMIN_USER:
            ok = self.admin_token_usable() and hmac.compare_digest(
                password.encode(), self.admin_token.encode()
            )
        elif USER_RE.match(user) and len(password) <= MAX_PASSWORD:
            with self.store.reader.reading() as conn:
                row = conn.execute(
                    "SELECT password FROM staff WHERE user = ? AND disabled = 0", (user,)
                ).fetchone()
            ok = verify_password(password, row[0] if row else _DUMMY) and row is not None
        if not ok:
            self.throttle.failed(user, now)
            log.warning("fleet sign-in failed")
            raise InvalidInput("wrong user name or password")
        self.throttle.succeeded(user)
        return user

    def start(self, user: str, now: float) -> tuple[str, Session]:
        """A new session for ``user``: (the cookie token, the session)."""
        token = secrets.token_urlsafe(32)
        session = Session(user, secrets.token_urlsafe(24), now + self.session_seconds)
        with self.store.writer.transaction() as conn:
            conn.execute(
                "INSERT INTO sessions (token_hash, user, csrf, created_at, expires_at) VALUES (?,?,?,?,?)",
                (_token_hash(token), user, session.csrf, now, session.expires_at),
            )
        log.info("fleet session started for %s", user)
        return token, session

    def session(self, token: str | None, now: float) -> Session | None:
        """The live session of a cookie token, or None."""
        if not token or len(token) > 100:
            return None
        with self.store.reader.reading() as conn:
            row = conn.execute(
                "SELECT user, csrf, expires_at FROM sessions WHERE token_hash = ?", (_token_hash(token),)
            ).fetchone()
        if row is None or row[2] <= now:
            return None
        return Session(row[0], row[1], float(row[2]))

    def end(self, token: str) -> None:
        """Sign out: forget the session."""
        with self.store.writer.transaction() as conn:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (_token_hash(token),))


def add_staff_account(central_db: str | Path, user: str, password: str, *, replace: bool = False) -> None:
    """``add_staff`` on the fleet database next to the central database ``central_db`` (for the CLI)."""
    store = FleetStore(fleet_path_for(central_db))
    try:
        add_staff(store, user, password, replace=replace)
    finally:
        store.close()
