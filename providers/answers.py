"""Answers we paid for, kept in the database; and single flight for questions asked at once.

An answer is a :class:`~providers.models.ProviderAnswer` row keyed by provider, operation and
the fingerprint of the adapter's normalised inputs (sha256 of their canonical JSON), so
``" ACME.com "`` and ``"acme.com"`` share one. It lives ``settings.PROVIDER_CACHE_TTL`` (30 days)
or the provider's ``cache_ttl_days``; ``0`` turns keeping answers off for that provider. Only
answers are kept (found and no-match results); errors never are. A Redis restart or flush
cannot lose an answer, and :func:`erase_about` deletes the answers about a person.

Single flight: the first caller to ask a question inserts the row as ``pending`` with a lease
and asks the provider; callers asking the same question meanwhile find the pending row and
wait for it to be answered. If the asker fails, its row is given up and the next caller asks;
if it was killed, its lease expires and the next caller takes over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from providers.adapters.base import FieldValue, ProviderResult
from providers.errors import TemporaryError
from providers.models import AnswerStatus, Provider, ProviderAnswer

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_POLL = (0.01, 0.2)

# Indirection so tests can record deliberate waits.
_sleep = time.sleep


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no insignificant whitespace, Decimals as strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(normalised_inputs: Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON of already-normalised inputs (64 characters)."""
    return hashlib.sha256(canonical_json(dict(normalised_inputs)).encode()).hexdigest()


def ttl_for(provider: Provider) -> timedelta | None:
    """How long ``provider``'s answers are kept; ``None`` when they must not be."""
    if provider.cache_ttl_days is None:
        return settings.PROVIDER_CACHE_TTL
    if provider.cache_ttl_days == 0:
        return None
    return timedelta(days=provider.cache_ttl_days)


def serialise(result: ProviderResult) -> dict[str, Any]:
    """A JSON-compatible dict, so a stored answer outlives changes to the result classes."""
    return {
        "v": FORMAT_VERSION,
        "found": result.found,
        "fields": {
            name: {"value": fv.value, "confidence": fv.confidence}
            for name, fv in result.fields.items()
        },
        "raw": result.raw,
        "cost": str(result.cost),
        "credits_left": None if result.credits_left is None else str(result.credits_left),
        "http_status": result.http_status,
        "extra": result.extra,
    }


def deserialise(data: Mapping[str, Any]) -> ProviderResult:
    return ProviderResult(
        found=bool(data["found"]),
        fields={
            name: FieldValue(item["value"], int(item["confidence"]))
            for name, item in data["fields"].items()
        },
        raw=data.get("raw"),
        cost=Decimal(data["cost"]),
        credits_left=None if data.get("credits_left") is None else Decimal(data["credits_left"]),
        http_status=data.get("http_status"),
        extra=dict(data.get("extra") or {}),
    )


def subject_keys(inputs: Mapping[str, Any], result: ProviderResult | None = None) -> list[str]:
    """Who a question (and its answer) is about, as keys :func:`erase_about` can look up."""
    values: dict[str, Any] = dict(inputs)
    if result is not None:
        for name, field in result.fields.items():
            values.setdefault(name, field.value)
    keys: list[str] = []
    for name in ("email", "personal_email", "business_email"):
        if isinstance(values.get(name), str) and "@" in values[name]:
            keys.append(f"email:{values[name].strip().lower()}")
    if isinstance(values.get("linkedin_url"), str) and values["linkedin_url"].strip():
        keys.append(f"linkedin:{_linkedin_key(values['linkedin_url'])}")
    person = _person_key(values)
    if person:
        keys.append(f"person:{person}")
    return sorted(set(keys))


def erase_about(
    *,
    emails: Iterable[str] = (),
    linkedin_urls: Iterable[str] = (),
    people: Iterable[Mapping[str, Any]] = (),
) -> int:
    """Delete every stored answer about these people; returns how many were deleted."""
    keys = [f"email:{e.strip().lower()}" for e in emails if e]
    keys += [f"linkedin:{_linkedin_key(u)}" for u in linkedin_urls if u]
    keys += [f"person:{k}" for k in map(_person_key, people) if k]
    deleted = 0
    for key in set(keys):
        deleted += ProviderAnswer.objects.filter(subjects__contains=f"|{key}|").delete()[0]
    return deleted


@dataclass(frozen=True)
class Lookup:
    result: ProviderResult
    #: True when the answer was already stored (nothing was paid for it now).
    stored: bool


def get_or_call(
    provider: Provider,
    operation: str,
    input_fingerprint: str,
    compute: Callable[[Callable[[], None]], ProviderResult],
    *,
    ttl: timedelta | None,
    subjects: list[str],
    lease: float,
    wait_timeout: float,
    use_cache: bool = True,
) -> Lookup:
    """The stored answer, or ``compute(renew)``'s, stored for ``ttl``; one caller computes at
    once. The asker holds the question for ``lease`` seconds and calls ``renew()`` to hold it
    that long again (before each attempt), so a live asker is never taken over.

    ``use_cache=False`` ignores a stored answer (a forced refresh) and replaces it. With
    ``ttl=None`` nothing is stored or shared: ``compute()`` runs every time.
    """
    if ttl is None:
        return Lookup(compute(lambda: None), stored=False)
    rows = ProviderAnswer.objects.filter(
        provider=provider, operation=operation, input_fingerprint=input_fingerprint
    )
    deadline = time.monotonic() + wait_timeout
    pause = _POLL[0]
    while True:
        now = timezone.now()
        row = rows.first()
        token = secrets.token_hex(16)
        lead = {
            "status": AnswerStatus.PENDING,
            "lease_token": token,
            "lease_until": now + timedelta(seconds=lease),
        }
        if row is None:
            try:
                row = ProviderAnswer.objects.create(
                    provider=provider,
                    operation=operation,
                    input_fingerprint=input_fingerprint,
                    subjects=_joined(subjects),
                    **lead,
                )
            except IntegrityError:
                continue  # another caller inserted it first: read theirs
            return _lead(row.pk, token, None, compute, ttl, subjects, lease)
        if row.status == AnswerStatus.ANSWERED:
            fresh = row.expires_at is None or row.expires_at > now
            if fresh and use_cache:
                stored = _decode(row)
                if stored is not None:
                    return Lookup(stored, stored=True)
            # Expired, unreadable or refreshed: take the lead if nobody else took it meanwhile.
            if rows.filter(pk=row.pk, status=AnswerStatus.ANSWERED).update(**lead):
                return _lead(row.pk, token, row, compute, ttl, subjects, lease)
            continue
        if row.lease_until is None or row.lease_until <= now:
            # The asker stopped without answering (killed): take over its lease.
            if rows.filter(pk=row.pk, lease_token=row.lease_token).update(**lead):
                return _lead(row.pk, token, None, compute, ttl, subjects, lease)
            continue
        if time.monotonic() >= deadline:
            raise TemporaryError(
                "answer_pending", "the same question is being asked by another worker"
            )
        _sleep(pause)
        pause = min(pause * 2, _POLL[1])


def _lead(
    pk: int,
    token: str,
    previous: ProviderAnswer | None,
    compute: Callable[[Callable[[], None]], ProviderResult],
    ttl: timedelta,
    subjects: list[str],
    lease: float,
) -> Lookup:
    mine = ProviderAnswer.objects.filter(pk=pk, lease_token=token)

    def renew() -> None:
        mine.update(lease_until=timezone.now() + timedelta(seconds=lease))

    try:
        result = compute(renew)
    except BaseException:
        if previous is not None and previous.result is not None:
            # A failed refresh keeps the answer it was refreshing.
            mine.update(status=AnswerStatus.ANSWERED, lease_token="", lease_until=None)
        else:
            mine.delete()
        raise
    now = timezone.now()
    mine.update(
        status=AnswerStatus.ANSWERED,
        result=serialise(result),
        cost=result.cost,
        subjects=_joined(subject_keys({}, result) + subjects),
        lease_token="",
        lease_until=None,
        answered_at=now,
        expires_at=now + ttl,
    )
    return Lookup(result, stored=False)


def _decode(row: ProviderAnswer) -> ProviderResult | None:
    data = row.result
    if not isinstance(data, Mapping) or data.get("v") != FORMAT_VERSION:
        return None
    try:
        return deserialise(data)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        logger.warning("unreadable stored provider answer ignored", extra={"answer_id": row.pk})
        return None


def _joined(keys: Iterable[str]) -> str:
    unique = sorted(set(keys))
    return f"|{'|'.join(unique)}|" if unique else ""


def _linkedin_key(url: str) -> str:
    text = url.strip().lower().split("?", 1)[0].rstrip("/")
    return text.split("linkedin.com/", 1)[-1]


def _person_key(values: Mapping[str, Any]) -> str:
    first, last = values.get("first_name"), values.get("last_name")
    domain = values.get("domain")
    if not (isinstance(first, str) and isinstance(last, str) and isinstance(domain, str)):
        return ""
    name = " ".join(f"{first} {last}".lower().split())
    return f"{name}@{domain.strip().lower()}" if name and domain.strip() else ""
