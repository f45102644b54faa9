"""Value helpers the adapters share: normalising inputs, reading provider answers.

Nothing here knows about adapters or results (see :mod:`providers.adapters.base`): these are
plain functions over strings, numbers and decoded JSON.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from enrichment.emails.domains import normalise_domain
from providers.errors import ProviderFailure

#: Inputs compared case-insensitively (so they share a cache entry whatever their case).
CASE_INSENSITIVE_INPUTS = frozenset({"email", "personal_email", "domain", "linkedin_url"})


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple | dict) and len(value) == 0)


def normalise_linkedin_url(value: str) -> str:
    """Strip query, fragment and trailing slash; keep scheme and host as given."""
    value = value.strip()
    if not re.match(r"^https?://", value, re.IGNORECASE):
        value = "https://" + value
    parts = urlsplit(value)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def normalise_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Strip strings, drop blanks, lower-case emails and domains, complete name parts."""
    clean: dict[str, Any] = {}
    for name, value in inputs.items():
        if isinstance(value, str):
            value = " ".join(value.split())
        if is_blank(value):
            continue
        clean[name] = value
    for name in ("email", "personal_email"):
        if isinstance(clean.get(name), str):
            clean[name] = clean[name].lower()
    if isinstance(clean.get("domain"), str):
        domain = normalise_domain(clean["domain"])
        if domain:
            clean["domain"] = domain
        else:
            del clean["domain"]
    if isinstance(clean.get("linkedin_url"), str):
        clean["linkedin_url"] = normalise_linkedin_url(clean["linkedin_url"])
    first, last, full = clean.get("first_name"), clean.get("last_name"), clean.get("full_name")
    if full is None and isinstance(first, str) and isinstance(last, str):
        clean["full_name"] = f"{first} {last}"
    elif isinstance(full, str) and (first is None or last is None):
        parts = full.split(" ")
        if len(parts) >= 2:
            clean.setdefault("first_name", parts[0])
            clean.setdefault("last_name", parts[-1])
    return clean


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def to_decimal(value: Any, *, default: Decimal) -> Decimal:
    if value is None or isinstance(value, bool):
        return default
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default


def clamp_confidence(value: Any, *, scale: float = 100.0, default: int = 0) -> int:
    """A provider's score on ``scale`` as 0-100; ``default`` when it is not a number."""
    if value is None or isinstance(value, bool):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    if scale <= 0:
        return default
    return max(0, min(100, round(number / scale * 100)))


def first_str(*values: Any) -> str | None:
    """The first value that is a non-empty string (providers put booleans where data is hidden)."""
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def dig(data: Any, *path: str | int) -> Any:
    """``dig(body, "data", "verification", "status")`` without KeyError/TypeError on the way."""
    for key in path:
        if isinstance(key, int):
            if not isinstance(data, list) or not -len(data) <= key < len(data):
                return None
            data = data[key]
        elif isinstance(data, Mapping):
            data = data.get(key)
        else:
            return None
    return data


def ensure_mapping(body: Any, *, http_status: int | None = None) -> dict[str, Any]:
    """The body as a JSON object, or ``ProviderFailure("malformed_response")``."""
    if not isinstance(body, dict):
        raise ProviderFailure(
            "malformed_response", "expected a JSON object", http_status=http_status
        )
    return body


def find_message(body: Any) -> str:
    """Common error shapes: ``{"error": "..."}``, ``{"error": {"message"}}``,
    ``{"errors": [{"details"|"title"|"message"}]}``, ``{"message": "..."}``."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(filter(None, (find_message(item) for item in body[:3])))
    if not isinstance(body, Mapping):
        return ""
    for key in ("error_message", "message", "details", "detail", "title", "error_code", "code"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value
    for key in ("errors", "error", "Errors"):
        value = body.get(key)
        if isinstance(value, str | list | Mapping):
            text = find_message(value)
            if text:
                return text
    return ""


def clip_text(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def join_names(values: Iterable[Any]) -> list[str]:
    """Unique non-empty strings in first-seen order."""
    seen: list[str] = []
    for value in values:
        if isinstance(value, str) and value.strip() and value.strip() not in seen:
            seen.append(value.strip())
    return seen
