"""PostgreSQL URLs as the warehouse settings give them: the libpq spelling, and the URL shown in messages
(without its password). No imports from the backends: wenulake.failures uses them too."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def plain_url(url: str) -> str:
    """libpq speaks postgresql://; accept the SQLAlchemy spelling postgresql+psycopg:// too."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme in ("postgresql+psycopg", "postgres", "postgresql") else url


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(plain_url(url))
    host = parts.hostname or ""
    netloc = (
        (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    )
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
