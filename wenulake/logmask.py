"""Secrets out of logs and error lines: URL passwords, secret query parameters and the values of secret settings.

`install(settings)` runs at the start of every CLI command and Airflow task (wenulake.cli, wenulake.tasks):
- every log record made afterwards, by any library, has its message (and traceback) masked before any handler
  sees it (a record factory, so it holds whatever handlers Airflow or the CLI attach later);
- inside an Airflow task, the same values go to Airflow's own secrets masker (`airflow.sdk.log.mask_secret`), which
  masks the task log and the supervisor's.
`mask_text` is the rule, also used for the CLI's one-line errors: `scheme://user:***@host`, `password=***` (and
token, secret, ...), and every known secret value as `***`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wenulake.settings import Settings

MASK = "***"
#: user:password@ inside any text (a URL in a message, a DSN in a traceback)
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:@/\s'\"]*:)[^@/\s'\"]+(?P<tail>@)")
#: password=..., token=... as a URL query or a libpq keyword string; up to the next separator
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b(?:password|passwd|pwd|token|secret|sslpassword|aws_secret_access_key|aws_session_token)['\"]?"
    r"\s*[=:]\s*)(?P<quote>['\"]?)[^&\s'\",;]+"
)
#: environment variables whose values are secrets wherever they appear
SECRET_ENVIRONMENT = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")
#: shorter values are not masked by value (they would mask ordinary words); the patterns still apply
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with URL passwords, secret key=value pairs and each of `secrets` (and the installed ones) masked."""
    text = _URL_PASSWORD.sub(rf"\g<head>{MASK}\g<tail>", text)
    text = _KEY_VALUE.sub(rf"\g<key>\g<quote>{MASK}", text)
    for secret in sorted({*_secrets, *secrets}, key=len, reverse=True):  # longest first: no partial leftovers
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    return text


def secret_values(settings: Settings) -> set[str]:
    """The secrets `settings` and the environment hold: secret settings, URL passwords, AWS secret keys."""
    from urllib.parse import unquote, urlsplit

    from wenulake.settings import SECRET_SETTINGS

    values: set[str] = set()
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if name in SECRET_SETTINGS:
            values.add(str(value))
        elif isinstance(value, str) and "://" in value:
            try:
                password = urlsplit(value).password
            except ValueError:
                continue
            if password:
                values.update({password, unquote(password)})
    values.update(os.environ[k] for k in SECRET_ENVIRONMENT if os.environ.get(k))
    return {v for v in values if len(v) >= MIN_SECRET_LENGTH}


def _masking_factory(factory: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report, as logging does
            return record
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return record

    make.wenulake_masking = True  # type: ignore[attr-defined]
    return make


def install(settings: Settings | None) -> None:
    """Mask secrets in every log record from now on (idempotent; secrets of later settings are added)."""
    global _installed
    values = secret_values(settings) if settings is not None else set()
    with _lock:
        _secrets.update(values)
        if not _installed:
            current = logging.getLogRecordFactory()
            if not getattr(current, "wenulake_masking", False):
                logging.setLogRecordFactory(_masking_factory(current))
            _installed = True
    _tell_airflow(values)


def _tell_airflow(values: set[str]) -> None:
    """Inside an Airflow task, Airflow's masker hides the values in the task log and the supervisor's too."""
    import sys

    if "airflow.sdk" not in sys.modules:  # not under Airflow: nothing to tell, and no import to pay for
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:
        return
    for value in values:
        mask_secret(value)
