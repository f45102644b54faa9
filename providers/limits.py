"""A provider's shared limits: rate, calls in flight, daily quota and the circuit breaker.

All of it lives in the database (:class:`~providers.models.ProviderState` and
:class:`~providers.models.ProviderLease`), so every process of a deployment shares it in both
modes: PostgreSQL with Redis, and SQLite in the embedded mode (where the web server, the
worker and the ``enrich`` command are separate processes). One short transaction holding the
provider's state row admits an attempt or refuses it; nothing here talks to the provider.

Hand-written because no maintained limiter or breaker keeps its state in the application's own
SQLite/PostgreSQL database with leases, reservations and a half-open trial in one transaction;
the algorithm is the GCRA (the token bucket as one timestamp):

* **rate**: ``rate_limit_per_minute`` with a burst of ``config["rate_limit_burst"]`` (default
  1: evenly spaced). An admitted caller reserves the next free instant and sleeps until it, so
  callers queue in order and nobody polls for tokens;
* **concurrency**: one lease row per call in flight, at most ``concurrency``; a lease expires,
  so a worker killed mid-call frees its slot. Waiting callers look again every few tens of ms;
* **daily quota**: attempts per UTC day;
* **breaker**: ``breaker_threshold`` consecutive failures (5) open the circuit for
  ``breaker_cooldown_seconds`` (30); then one trial call is let through, and its outcome
  closes or reopens it.

Times come from the calling host's clock: hosts of one deployment are expected to keep time.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from providers.errors import ErrorKind, ProviderError, ProviderFailure, TemporaryError
from providers.models import Provider, ProviderLease, ProviderState

DEFAULT_BREAKER_THRESHOLD = 5
DEFAULT_BREAKER_COOLDOWN = 30.0
#: How often a caller waiting for a concurrency slot looks again (grows to the second value).
_SLOT_POLL = (0.01, 0.1)

# Indirections so tests can record deliberate waits and set the clock.
_sleep = time.sleep
_now = timezone.now


class BreakerState:
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def counts_as_failure(error: BaseException) -> bool:
    """Whether ``error`` says the provider is unwell (and so moves the breaker towards open)."""
    if not isinstance(error, ProviderError):
        return False
    return error.kind is ErrorKind.TEMPORARY or (error.http_status or 0) >= 500


@dataclass(frozen=True)
class Settings:
    """A provider's limits, read once per client from its row and ``config``."""

    provider_id: int
    rate_per_minute: int | None
    burst: int
    concurrency: int | None
    daily_quota: int | None
    breaker_threshold: int
    breaker_cooldown: float
    #: How long a slot or a trial outlives a worker that stopped without giving it back.
    lease: float

    @classmethod
    def of(cls, provider: Provider) -> Settings:
        config = provider.config or {}
        return cls(
            provider_id=provider.pk,
            rate_per_minute=provider.rate_limit_per_minute or None,
            burst=_positive(config.get("rate_limit_burst"), 1, int),
            concurrency=provider.concurrency or None,
            daily_quota=provider.daily_quota,
            breaker_threshold=_positive(
                config.get("breaker_threshold"), DEFAULT_BREAKER_THRESHOLD, int
            ),
            breaker_cooldown=_positive(
                config.get("breaker_cooldown_seconds"), DEFAULT_BREAKER_COOLDOWN, float
            ),
            # Longer than one attempt can last (the transport allows 3x the timeout).
            lease=float(provider.timeout_seconds) * 3 + 10,
        )


@dataclass(frozen=True)
class Admission:
    """What :func:`admit` took for one attempt, for :func:`release` to give back."""

    provider_id: int
    lease_token: str | None
    trial: bool
    quota_day: Any
    #: The breaker had nothing on record when this attempt was admitted.
    clean: bool = True


class _Busy(Exception):  # noqa: N818 - a condition, not an error
    """Every concurrency slot is taken: roll back and look again later."""


def admit(limits: Settings, *, timeout: float) -> Admission:
    """Wait (at most ``timeout`` seconds) until one attempt may be sent, and take what it needs.

    Raises :class:`TemporaryError` (``circuit_open``, ``rate_limited``,
    ``concurrency_limited``) or :class:`ProviderFailure` (``quota_exhausted``) without taking
    anything.
    """
    deadline = time.monotonic() + timeout
    pause = _SLOT_POLL[0]
    while True:
        remaining = deadline - time.monotonic()
        try:
            admission, wait = _try_admit(limits, max(0.0, remaining))
        except _Busy:
            if remaining <= pause:
                raise TemporaryError(
                    "concurrency_limited",
                    f"all {limits.concurrency} concurrency slots stayed busy for {timeout:.0f} s",
                ) from None
            _sleep(pause)
            pause = min(pause * 2, _SLOT_POLL[1])
            continue
        if wait > 0:
            try:
                _sleep(wait)
            except BaseException:
                release(admission, sent=False)
                raise
        return admission


def release(admission: Admission, *, sent: bool) -> None:
    """Give back the slot; when nothing was ``sent``, also the quota unit and the trial."""
    if admission.lease_token is not None:
        ProviderLease.objects.filter(token=admission.lease_token).delete()
    if sent:
        return
    state = ProviderState.objects.filter(provider_id=admission.provider_id)
    if admission.quota_day is not None:
        state.filter(quota_day=admission.quota_day, quota_used__gt=0).update(
            quota_used=F("quota_used") - 1
        )
    if admission.trial:
        state.update(trial_until=None)


def record_success(provider_id: int) -> None:
    """The provider answered: close the circuit (one cheap no-op update when it is closed)."""
    ProviderState.objects.filter(provider_id=provider_id).exclude(
        failures=0, opened_until=None, trial_until=None
    ).update(failures=0, opened_until=None, trial_until=None)


def record_failure(limits: Settings, *, trial: bool) -> str:
    """Count a failure; open the circuit at the threshold or when a trial call failed."""
    now = _now()
    with transaction.atomic():
        state = _locked_state(limits.provider_id)
        state.failures += 1
        if trial or state.failures >= limits.breaker_threshold:
            state.opened_until = now + timedelta(seconds=limits.breaker_cooldown)
            state.trial_until = None
        state.save(update_fields=["failures", "opened_until", "trial_until"])
    return BreakerState.OPEN if state.opened_until and state.opened_until > now else "closed"


def breaker_state(provider: Provider) -> str:
    state = ProviderState.objects.filter(provider=provider).first()
    if state is None or state.opened_until is None:
        return BreakerState.CLOSED
    return BreakerState.OPEN if state.opened_until > _now() else BreakerState.HALF_OPEN


def quota_used(provider: Provider) -> int:
    state = ProviderState.objects.filter(provider=provider).first()
    if state is None or state.quota_day != _utc_day(_now()):
        return 0
    return state.quota_used


def slots_in_use(provider: Provider) -> int:
    return ProviderLease.objects.filter(provider=provider, expires_at__gt=_now()).count()


def reset(provider: Provider) -> None:
    """Forget the provider's limits state (an admin's "reset", and tests)."""
    ProviderState.objects.filter(provider=provider).delete()
    ProviderLease.objects.filter(provider=provider).delete()


# --- internals -----------------------------------------------------------------------------


def _locked_state(provider_id: int) -> ProviderState:
    """The provider's state row, locked for this transaction; made on first use."""
    rows = ProviderState.objects.select_for_update().filter(provider_id=provider_id)
    state = rows.first()
    if state is None:
        ProviderState.objects.get_or_create(provider_id=provider_id)
        state = rows.get()
    return state


def _try_admit(limits: Settings, timeout: float) -> tuple[Admission, float]:
    """One transaction: take a slot, the breaker's word, a quota unit and a rate instant.

    Any refusal raises inside the transaction, so nothing taken so far is kept.
    """
    with transaction.atomic():
        # The row lock orders every admission of this provider (SQLite's IMMEDIATE
        # transactions lock the whole database, which orders them too).
        state = _locked_state(limits.provider_id)
        now = _now()
        changed: list[str] = []

        lease_token = None
        if limits.concurrency:
            leases = ProviderLease.objects.filter(provider_id=limits.provider_id)
            if leases.filter(expires_at__gt=now).count() >= limits.concurrency:
                raise _Busy
            leases.filter(expires_at__lte=now).delete()
            lease_token = secrets.token_hex(16)

        trial = False
        if state.opened_until is not None:
            if now < state.opened_until:
                raise TemporaryError(
                    "circuit_open",
                    "the provider failed repeatedly; calls resume after a pause",
                    retry_after=(state.opened_until - now).total_seconds(),
                )
            if state.trial_until is not None and now < state.trial_until:
                raise TemporaryError(
                    "circuit_open",
                    "a trial call is testing whether the provider has recovered",
                    retry_after=(state.trial_until - now).total_seconds(),
                )
            trial = True
            state.trial_until = now + timedelta(seconds=limits.lease)
            changed.append("trial_until")

        quota_day = None
        if limits.daily_quota is not None:
            quota_day = _utc_day(now)
            if state.quota_day != quota_day:
                state.quota_day, state.quota_used = quota_day, 0
            if state.quota_used >= limits.daily_quota:
                raise ProviderFailure(
                    "quota_exhausted", f"the daily quota of {limits.daily_quota} calls is used up"
                )
            state.quota_used += 1
            changed += ["quota_day", "quota_used"]

        wait = 0.0
        if limits.rate_per_minute:
            interval = timedelta(seconds=60 / limits.rate_per_minute)
            theoretical = max(state.next_token_at or now, now)
            allowed_at = theoretical - interval * (limits.burst - 1)
            wait = max(0.0, (allowed_at - now).total_seconds())
            if wait > timeout:
                raise TemporaryError(
                    "rate_limited",
                    f"the rate limit of {limits.rate_per_minute}/min is booked for {wait:.0f} s",
                    retry_after=wait,
                )
            state.next_token_at = theoretical + interval
            changed.append("next_token_at")

        if changed:
            state.save(update_fields=changed)
        if lease_token is not None:
            ProviderLease.objects.create(
                provider_id=limits.provider_id,
                token=lease_token,
                expires_at=now + timedelta(seconds=limits.lease + wait),
            )
    clean = not (state.failures or state.opened_until or trial)
    return Admission(limits.provider_id, lease_token, trial, quota_day, clean), wait


def _utc_day(now: datetime) -> Any:
    return now.astimezone(UTC).date()


def _positive(value: Any, default: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
