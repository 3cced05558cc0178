"""Errors a user can act on. The CLI prints `str(error)` as one line and exits non-zero."""


class WenulakeError(Exception):
    """Base class: anything raised as a WenulakeError is reported as one clear line."""


class ConfigError(WenulakeError):
    """A setting is missing or wrong (a path that does not exist, an unreachable endpoint, ...)."""


class KeyringError(WenulakeError):
    """The keyring is missing, unreadable or holds a key that is not 32 bytes of base64."""


class StorageError(WenulakeError):
    """A landing or lake location cannot be read or written."""


class GateFailed(WenulakeError):
    """A data-quality gate rejected a batch; nothing of it was published."""


class PipelineFailed(WenulakeError):
    """An orchestrated run ended in a failed state."""


class LandingIncomplete(WenulakeError):
    """The landing lists fewer objects for an ingested hour than the ingest ledger recorded: reprocessing the
    hour would delete rows that nothing can rebuild."""


class LakeLocked(WenulakeError):
    """Another run holds the lake's writer lock and the caller asked not to wait (--no-wait)."""


class LakeLockLost(WenulakeError):
    """This run's lake lock on S3 ran out (its holder stalled past WENULAKE_LAKE_LOCK_TTL, or its renewal was
    refused because another run took the lock over): the run must not commit any more."""
