"""People and integrations: users with a role, argon2 password hashes, API tokens (only their sha256 kept).

Roles: admin (everything, users and tokens included), operator (catalog edits and queued work, no keys or
users), viewer (read-only).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from wenulake.catalog import schema
from wenulake.catalog.store import _utc
from wenulake.errors import WenulakeError

ROLES = ("admin", "operator", "viewer")
#: what each role may do; a request needing a permission its role lacks gets 403
PERMISSIONS = {
    "admin": {"read", "edit", "admin"},
    "operator": {"read", "edit"},
    "viewer": {"read"},
}
TOKEN_PREFIX = "wlk_"

_hasher = PasswordHasher()
#: verified against when the user does not exist, so a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash("not a password")


@dataclass(frozen=True)
class User:
    username: str
    role: str
    active: bool

    def can(self, permission: str) -> bool:
        return self.active and permission in PERMISSIONS[self.role]


def _user(row: Any) -> User:
    return User(row.username, row.role, bool(row.active))


def _audit(
    connection: Any, actor: str, action: str, resource: str, object_id: str, before: Any, after: Any
) -> None:
    """An audit_log row for a user or token change (never a password, a hash or a token)."""
    connection.execute(
        insert(schema.audit_log).values(
            at=datetime.now(UTC),
            actor=actor,
            action=action,
            resource=resource,
            object_id=object_id,
            before=None if before is None else json.dumps(before, sort_keys=True),
            after=None if after is None else json.dumps(after, sort_keys=True),
        )
    )


def add_user(engine: Engine, username: str, password: str, role: str, actor: str = "cli") -> User:
    username = username.strip()
    if not username:
        raise WenulakeError("a user needs a name")
    if role not in ROLES:
        raise WenulakeError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if len(password) < 8:
        raise WenulakeError("a password needs at least 8 characters")
    with engine.begin() as connection:
        u = schema.users
        if connection.execute(select(u.c.username).where(u.c.username == username)).first():
            raise WenulakeError(f"user {username!r} already exists")
        connection.execute(
            insert(u).values(
                username=username,
                password_hash=_hasher.hash(password),
                role=role,
                active=True,
                created_at=datetime.now(UTC),
            )
        )
        _audit(connection, actor, "create", "users", username, None, {"username": username, "role": role})
    return User(username, role, True)


def _aware(row: dict[str, Any]) -> dict[str, Any]:
    """Every instant in UTC, with its offset (SQLite hands back naive datetimes): the catalog's own rule."""
    return {k: _utc(v) for k, v in row.items()}


def user_exists(engine: Engine, username: str) -> bool:
    """Whether the name is taken (active or disabled)."""
    u = schema.users
    with engine.connect() as connection:
        return connection.execute(select(u.c.username).where(u.c.username == username)).first() is not None


def list_users(engine: Engine) -> list[dict[str, Any]]:
    u = schema.users
    with engine.connect() as connection:
        rows = connection.execute(
            select(u.c.username, u.c.role, u.c.active, u.c.created_at).order_by(u.c.username)
        )
        return [_aware(dict(r._mapping)) for r in rows]


def disable_user(engine: Engine, username: str, actor: str = "cli") -> None:
    """Disable a user: no more sign-in, and their sessions and tokens stop working at the next request."""
    with engine.begin() as connection:
        done = connection.execute(
            update(schema.users).where(schema.users.c.username == username).values(active=False)
        )
        if done.rowcount != 1:
            raise WenulakeError(f"no user {username!r}")
        _audit(connection, actor, "disable", "users", username, {"active": True}, {"active": False})


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    u = schema.users
    with engine.connect() as connection:
        row = connection.execute(select(u).where(u.c.username == username)).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    return _user(row)


def get_user(engine: Engine, username: str) -> User | None:
    u = schema.users
    with engine.connect() as connection:
        row = connection.execute(select(u).where(u.c.username == username)).first()
    return _user(row) if row is not None and row.active else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, username: str, name: str, actor: str = "cli") -> str:
    """A new API token for `username`; the token is returned once and only its hash is kept."""
    if get_user(engine, username) is None:
        raise WenulakeError(f"no active user {username!r}")
    name = name.strip() or "integration"
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = _token_hash(token)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.api_tokens).values(
                token_hash=digest, username=username, name=name, created_at=datetime.now(UTC)
            )
        )
        _audit(connection, actor, "token-create", "tokens", token_id(digest), None,
               {"username": username, "name": name})  # fmt: skip
    return token


def token_id(token_hash: str) -> str:
    """A token's public id: the first 12 hex digits of its hash (names it in pages and the audit log)."""
    return token_hash[:12]


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    t = schema.api_tokens
    with engine.connect() as connection:
        rows = connection.execute(
            select(t.c.token_hash, t.c.username, t.c.name, t.c.created_at, t.c.revoked_at).order_by(
                t.c.username, t.c.created_at
            )
        )
        return [_aware({**dict(r._mapping), "token_id": token_id(r.token_hash)}) for r in rows]


def revoke_token(engine: Engine, public_id: str, actor: str = "cli") -> None:
    """Revoke a token by its public id: requests with it get 401 from then on."""
    t = schema.api_tokens
    if len(public_id) != 12 or not all(c in "0123456789abcdef" for c in public_id):
        raise WenulakeError(f"no token {public_id!r}")
    with engine.begin() as connection:
        row = connection.execute(
            select(t).where(t.c.token_hash.startswith(public_id), t.c.revoked_at.is_(None))
        ).first()
        if row is None:
            raise WenulakeError(f"no active token {public_id!r}")
        connection.execute(
            update(t).where(t.c.token_hash == row.token_hash).values(revoked_at=datetime.now(UTC))
        )
        _audit(connection, actor, "token-revoke", "tokens", public_id, {"username": row.username,
               "name": row.name, "revoked": False}, {"revoked": True})  # fmt: skip


class LoginLimiter:
    """Failed sign-ins per user name and per client address in a sliding window: after `limit` failures within
    `window` seconds, more attempts are refused (429) until the oldest failure leaves the window. In memory, per
    server process (each ECS task counts its own; the ALB's WAF rate rule sits in front)."""

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds to wait before trying again; 0 when an attempt is allowed."""
        now = time.monotonic()
        with self._lock:
            waits = [
                self.window - (now - times[0])
                for key in (f"user:{username.lower()}", f"ip:{address}")
                if len(times := self._recent(key, now)) >= self.limit
            ]
        return max(1, int(max(waits)) + 1) if waits else 0

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (f"user:{username.lower()}", f"ip:{address}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)


def token_user(engine: Engine, token: str) -> User | None:
    t, u = schema.api_tokens, schema.users
    with engine.connect() as connection:
        row = connection.execute(
            select(u)
            .join(t, t.c.username == u.c.username)
            .where(t.c.token_hash == _token_hash(token), t.c.revoked_at.is_(None))
        ).first()
    return _user(row) if row is not None and row.active else None
