"""People and integrations: users with a role, argon2 password hashes, API tokens (only their sha256 kept).

Roles: admin (everything, users and tokens included), operator (catalog edits and queued work, no keys or
users), viewer (read-only).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update

from wenulake.catalog import schema
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


def add_user(engine: Engine, username: str, password: str, role: str) -> User:
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
    return User(username, role, True)


def list_users(engine: Engine) -> list[dict[str, Any]]:
    u = schema.users
    with engine.connect() as connection:
        rows = connection.execute(
            select(u.c.username, u.c.role, u.c.active, u.c.created_at).order_by(u.c.username)
        )
        return [dict(r._mapping) for r in rows]


def disable_user(engine: Engine, username: str) -> None:
    """Disable a user: no more sign-in, and their sessions and tokens stop working at the next request."""
    with engine.begin() as connection:
        done = connection.execute(
            update(schema.users).where(schema.users.c.username == username).values(active=False)
        )
        if done.rowcount != 1:
            raise WenulakeError(f"no user {username!r}")


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


def create_token(engine: Engine, username: str, name: str) -> str:
    """A new API token for `username`; the token is returned once and only its hash is kept."""
    if get_user(engine, username) is None:
        raise WenulakeError(f"no active user {username!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.api_tokens).values(
                token_hash=_token_hash(token), username=username, name=name, created_at=datetime.now(UTC)
            )
        )
    return token


def token_user(engine: Engine, token: str) -> User | None:
    t, u = schema.api_tokens, schema.users
    with engine.connect() as connection:
        row = connection.execute(
            select(u)
            .join(t, t.c.username == u.c.username)
            .where(t.c.token_hash == _token_hash(token), t.c.revoked_at.is_(None))
        ).first()
    return _user(row) if row is not None and row.active else None
