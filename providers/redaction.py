"""Masking stored credential values out of what a provider answered.

A provider may echo the key it was called with (an error text, a "request" block, a field
mapped from the wrong path), and not always as sent: ``SK_LIVE_...`` may come back in another
letter case. :func:`redact_result` replaces every credential value, in any letter case, in a
result's field values, raw payload and extra, before anything stores the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.adapters.base import ProviderResult

REDACTED = "[REDACTED]"
#: Shorter values are not masked: "abc" would mask half of every answer and protects nothing.
MIN_SECRET_LENGTH = 4


@lru_cache(maxsize=256)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    # Longest first, so a secret containing another is masked whole.
    alternatives = [re.escape(s) for s in sorted(set(secrets), key=len, reverse=True)]
    return re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None


def _key(secrets: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}))


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, in any letter case, replaced by ``[REDACTED]``."""
    pattern = _pattern(_key(secrets))
    return text if pattern is None else pattern.sub(REDACTED, text)


def mask_value(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of ``value`` (text, mappings and lists within) with the secrets masked; mapping
    keys too, since a provider may echo a key as a name."""
    key = _key(secrets)
    if not key:
        return value
    return _mask(value, key)


def _mask(value: Any, key: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return mask_text(value, key)
    if isinstance(value, Mapping):
        return {_mask(k, key): _mask(v, key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, key) for v in value]
    return value


def redact_result(result: ProviderResult, secrets: Iterable[str]) -> ProviderResult:
    """``result`` with the secrets masked in its fields' values, ``raw`` and ``extra``."""
    key = _key(secrets)
    if not key:
        return result
    result.fields = {
        name: replace(field, value=_mask(field.value, key)) for name, field in result.fields.items()
    }
    result.raw = _mask(result.raw, key)
    result.extra = _mask(result.extra, key)
    return result
