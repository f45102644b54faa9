"""Pending phone reveals: opened before the provider call, completed by the provider's webhook.

Apollo answers a phone reveal at once with the person and posts the numbers later to a URL we
give it (:mod:`providers.adapters.apollo`). This module is the state of that loop:

- :func:`phone_reveal_open` / :func:`phone_reveal_attach` / :func:`phone_reveal_discard` are the
  store the adapter calls (it holds no ORM code itself), before and after its request;
- :func:`phone_reveal_receive` takes one webhook delivery: idempotent, race-safe, signal on
  commit;
- :func:`phone_reveals_expire` marks reveals still pending after a while as expired.

The token in the webhook URL is the only thing that authenticates a delivery (Apollo signs
nothing), so only its SHA-256 is stored: a token has 256 random bits, so an unsalted hash cannot
be reversed by guessing, and a copy of the table does not let anyone post numbers. The
application logs neither the token nor a number (web server access logs: see
:mod:`providers.webhooks`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from django.db import transaction
from django.utils import timezone

from providers import signals
from providers.errors import ClientError
from providers.models import PhoneReveal, PhoneRevealStatus, Provider

if TYPE_CHECKING:
    from providers.adapters.base import Adapter

logger = logging.getLogger(__name__)

#: How long a reveal waits for its webhook before the expiry task gives up on it.
DEFAULT_TTL = timedelta(hours=24)
# secrets.token_urlsafe(32) gives 43 characters; anything far from that is not one of ours.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")


class PhoneReading(Protocol):
    """What a provider's webhook payload says: see ``providers.webhooks.PhoneDelivery``."""

    fields: dict[str, dict[str, Any]]
    credits: int


#: Reads a provider's payload for one person: ``None`` when it names no such person.
PayloadReader = Callable[..., PhoneReading | None]


class DeliveryOutcome(StrEnum):
    RECEIVED = "received"  # stored now, signal sent on commit
    DUPLICATE = "duplicate"  # the same payload again (a provider retry): nothing changes
    CONFLICT = "conflict"  # already received, with another payload
    UNKNOWN = "unknown"  # no reveal has this token
    MALFORMED = "malformed"  # not a JSON object or list
    WRONG_PERSON = "wrong_person"  # the payload is about someone else
    EXPIRED = "expired"  # pending longer than DEFAULT_TTL (marked expired or not yet)


@dataclass(frozen=True)
class Delivery:
    outcome: DeliveryOutcome
    reveal: PhoneReveal | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- the store the adapter calls --------------------------------------------------------------


def phone_reveal_open(*, adapter: Adapter, token: str) -> int:
    """Record a pending reveal for ``token`` (stored hashed) and return its id."""
    reveal = PhoneReveal.objects.create(
        provider=_provider_for(adapter), token_hash=token_digest(token)
    )
    return reveal.pk


def phone_reveal_attach(*, reveal_id: int, person_id: str | None, request_id: str | None) -> None:
    """Keep the provider's ids once its answer is in (the webhook may have come first)."""
    PhoneReveal.objects.filter(pk=reveal_id).update(
        person_id=(person_id or "")[:64], request_id=(request_id or "")[:64]
    )


def phone_reveal_discard(*, reveal_id: int) -> None:
    """Forget a reveal the provider refused or could not match: no webhook will come."""
    PhoneReveal.objects.filter(pk=reveal_id, status=PhoneRevealStatus.PENDING).delete()


def _provider_for(adapter: Adapter) -> Provider:
    """The stored provider ``adapter`` speaks for (the provider client tells it)."""
    provider = (
        Provider.objects.filter(pk=adapter.provider_id).first()
        if adapter.provider_id is not None
        else None
    )
    if provider is None:
        raise ClientError(
            "invalid_request",
            f"phone reveals are made through a stored {adapter.label} provider; "
            "this adapter was not built from one",
        )
    return provider


# --- the webhook ------------------------------------------------------------------------------


def phone_reveal_receive(*, token: str, body: bytes, read: PayloadReader) -> Delivery:
    """Take one webhook delivery for ``token``; ``read(payload, person_id=...)`` maps it.

    Idempotent: the provider may retry, and the same payload again answers ``DUPLICATE``
    without storing or signalling anything twice. A reveal pending for longer than
    :data:`DEFAULT_TTL` (whether or not the expiry task has marked it yet) takes no delivery:
    its token is only good until then, so a token that leaked from a log stops working.
    Nothing changes on any outcome but ``RECEIVED``.
    """
    if not _TOKEN_RE.match(token):
        return Delivery(DeliveryOutcome.UNKNOWN)
    digest = token_digest(token)
    if not PhoneReveal.objects.filter(token_hash=digest).exists():
        return Delivery(DeliveryOutcome.UNKNOWN)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Delivery(DeliveryOutcome.MALFORMED)
    if not isinstance(payload, dict | list):
        return Delivery(DeliveryOutcome.MALFORMED)
    with transaction.atomic():
        # The row lock orders concurrent deliveries of one reveal: the second one sees RECEIVED.
        reveal = (
            PhoneReveal.objects.select_for_update(of=("self",))
            .select_related("provider")
            .filter(token_hash=digest)
            .first()
        )
        if reveal is None:  # discarded in the meantime
            return Delivery(DeliveryOutcome.UNKNOWN)
        if reveal.status == PhoneRevealStatus.RECEIVED:
            same = reveal.raw_payload == payload
            outcome = DeliveryOutcome.DUPLICATE if same else DeliveryOutcome.CONFLICT
            return Delivery(outcome, reveal, reveal.phone_fields)
        if reveal.status == PhoneRevealStatus.EXPIRED or (
            reveal.requested_at < timezone.now() - DEFAULT_TTL
        ):
            return Delivery(DeliveryOutcome.EXPIRED, reveal)
        reading = read(payload, person_id=reveal.person_id or None)
        if reading is None:
            return Delivery(DeliveryOutcome.WRONG_PERSON, reveal)
        reveal.status = PhoneRevealStatus.RECEIVED
        reveal.received_at = timezone.now()
        reveal.phone_fields = reading.fields
        reveal.raw_payload = payload
        reveal.cost = _credits_cost(reveal.provider, reading.credits)
        reveal.save(update_fields=["status", "received_at", "phone_fields", "raw_payload", "cost"])
        transaction.on_commit(lambda: _announce(reveal, reading.fields))
    logger.info(
        "phone reveal received",
        extra={
            "reveal": reveal.pk,
            "provider": reveal.provider.slug,
            "found": sorted(reading.fields),
            "cost": str(reveal.cost),
        },
    )
    return Delivery(DeliveryOutcome.RECEIVED, reveal, reading.fields)


def _credits_cost(provider: Provider, credits: int) -> Decimal:
    if not credits:
        return Decimal(0)
    from providers.adapters import get_adapter_class

    adapter = get_adapter_class(provider.adapter)(credentials={}, config=provider.config or {})
    return adapter.credits_cost(credits)


def _announce(reveal: PhoneReveal, fields: dict[str, Any]) -> None:
    # Not send_robust: it logs each receiver's exception text, which may quote the numbers.
    # A receiver that raises is logged by type and does not undo the stored delivery (the
    # provider would retry in vain); receivers after it miss this one event, so they must not
    # raise.
    try:
        signals.phone_revealed.send(sender=PhoneReveal, reveal=reveal, fields=fields)
    except Exception as exc:  # noqa: BLE001 - see above
        logger.error(
            "phone_revealed receiver failed",
            extra={"reveal": reveal.pk, "error": type(exc).__name__},
        )


# --- expiry -----------------------------------------------------------------------------------


def phone_reveals_expire(*, older_than: timedelta = DEFAULT_TTL) -> int:
    """Mark reveals pending for longer than ``older_than`` as expired; returns how many.

    One conditional UPDATE: running it twice, or beside a delivery, is harmless (a delivery
    that wins keeps its RECEIVED; one that comes later is refused, see above).
    """
    cutoff = timezone.now() - older_than
    count = PhoneReveal.objects.filter(
        status=PhoneRevealStatus.PENDING, requested_at__lt=cutoff
    ).update(status=PhoneRevealStatus.EXPIRED)
    if count:
        logger.info("phone reveals expired", extra={"count": count})
    return count
