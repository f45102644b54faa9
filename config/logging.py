"""Structured logging: one JSON object per line, with secrets redacted.

The redaction filter is the last line of defence, not the first: code should not log secrets
at all. It masks (1) values of mapping keys that name a secret (``api_key``, ``password``,
``Authorization`` ...), (2) ``key=value`` / ``key: value`` pairs with such names inside
messages and URLs, and (3) any literal value registered with :func:`register_secret` — the
provider client registers every credential it decrypts, so a key that leaks into an exception
text from a third-party library is still masked.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
# Names of secrets, not secrets.
SECRET_NAMES = "|".join(
    (
        "api_key",
        "apikey",
        "api-key",
        "x-api-key",
        "x-key",
        "key",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "client_secret",
        "password",
        "passwd",
        "authorization",
        "auth",
        "credentials",
        "cookie",
        "sessionid",
    )
)
_NAME_RE = re.compile(rf"^({SECRET_NAMES})$", re.IGNORECASE)
_PAIR_RE = re.compile(
    rf"(?P<name>\b(?:{SECRET_NAMES})\b)(?P<sep>[\"']?\s*[=:]\s*[\"']?)"
    r"(?P<scheme>(?:Bearer|Basic|Token)\s+)?(?P<value>[^\s&\"',;}]+)",
    re.IGNORECASE,
)

_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask this literal wherever it appears in a log record from now on."""
    if value and len(value) >= 6:  # short values would mask ordinary words
        with _registered_lock:
            _registered.add(value)


def redact_text(text: str) -> str:
    for secret in sorted(_registered, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _PAIR_RE.sub(lambda m: f"{m['name']}{m['sep']}{m['scheme'] or ''}{REDACTED}", text)


def redact(value: Any) -> Any:
    """Return a copy of ``value`` with secrets masked (mappings, sequences, strings)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _NAME_RE.match(k) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Render the message once, then redact it, so %-args cannot reintroduce a secret.
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for name, val in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS:
                setattr(record, name, REDACTED if _NAME_RE.match(name) else redact(val))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


_STANDARD_ATTRS = set(logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, val in record.__dict__.items():
            if name not in _STANDARD_ATTRS and not name.startswith("_"):
                payload[name] = val
        if record.exc_info or record.exc_text:
            payload["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
