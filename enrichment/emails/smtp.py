"""SMTP RCPT probing: ask a domain's mail host whether it would accept a mailbox.

Off by default (callers decide, usually from ``ENRICH_SMTP_PROBE``): probing needs outbound
port 25, which many networks block, and a host that is probed carelessly may block our IP.

One conversation per domain, on one connection (RFC 5321 §3.3): EHLO (HELO if refused),
``MAIL FROM``, then ``RCPT TO`` for two random addresses (catch-all detection) and for each
candidate, never ``DATA``, then ``QUIT``. Replies are read by their reply code (RFC 5321
§4.2) and their RFC 3463 enhanced status code, never by their English text, which differs
from one server (and one language) to the next.

What the prober does about the usual traps:

* catch-all domains accept every address, so an accepted RCPT proves nothing there; we send
  two random addresses first and call the domain catch-all only if both are accepted, and
  then stop (no candidate is probed, the verdict is cached for a day);
* Microsoft 365 and Yahoo accept every RCPT at the SMTP stage and bounce later, so there a
  random acceptance is the provider's normal behaviour, not the domain's choice: we report
  ``catch_all=None`` with ``accepts_all_provider=True``, and treat an acceptance as unknown;
* greylisting answers 4xx to a first attempt; the result is ``unknown`` with ``retry_after``
  seconds, and the random probe addresses stay the same for a day so that a retry passes
  the greylist for them too (see :func:`~enrichment.emails.smtp_replies.greylist_retry_delay`);
* politeness: at most ``per_host_limit`` connections per MX host at once from a prober, and a
  pause between connections to the same host;
* our own network: an MX record is chosen by whoever owns the domain, so an MX host that
  resolves to a private, loopback, link-local or reserved address is never connected to (the
  HTTP guard's rule, :func:`providers.netguard.is_public_ip`), unless
  ``ENRICH_ALLOW_PRIVATE_NETWORKS`` is on.
"""

from __future__ import annotations

import hashlib
import logging
import random
import smtplib
import string
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import BaseCache

from enrichment.emails.domains import normalise_domain
from enrichment.emails.mx import MxResolver, MxResult
from enrichment.emails.smtp_replies import (
    RcptOutcome,
    RcptReason,
    RcptResult,
    accepts_all_provider_for,
    classify_reply,
    greylist_retry_delay,
)
from providers.netguard import allow_private_default, is_public_ip

logger = logging.getLogger(__name__)

CATCH_ALL_CACHE_PREFIX = "smtp:catchall:v1:"
RCPT_CACHE_PREFIX = "smtp:rcpt:v1:"
CACHE_TTL = 24 * 3600

DEFAULT_TIMEOUT = 10.0
DEFAULT_PER_HOST_LIMIT = 2
DEFAULT_HOST_PAUSE = 1.0
DEFAULT_MAX_MX_HOSTS = 3
CATCH_ALL_PROBES = 2

# Catch-all probabilities. Both random addresses accepted is strong evidence, but a server
# may accept a random address and still bounce later (or a tarpit may accept everything
# briefly); both rejected leaves a small chance the server changes its mind after DATA.
CATCH_ALL_ALL_ACCEPTED = 0.95
CATCH_ALL_ALL_REJECTED = 0.02

_RANDOM_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class CatchAllVerdict:
    """What the random-address probes said about a domain; cached for a day."""

    catch_all: bool | None
    probability: float | None
    accepts_all_provider: bool
    provider: str | None
    reason: str

    @classmethod
    def from_cache(cls, data: Any) -> CatchAllVerdict:
        if not isinstance(data, dict):
            raise TypeError("no cached verdict")
        return cls(**data)


@dataclass(frozen=True)
class DomainProbe:
    """The result of probing one domain: its catch-all verdict and one result per address.

    ``catch_all`` is True (both random addresses accepted), False (both rejected) or None
    (not measured, inconsistent, or an accepts-all provider); ``catch_all_probability`` is our
    estimate that any address would be accepted, None when nothing was learned.
    """

    domain: str
    catch_all: bool | None
    catch_all_probability: float | None
    accepts_all_provider: bool
    results: dict[str, RcptResult]
    provider: str | None = None
    mx_host: str | None = None
    reason: str = ""
    checked_at: datetime = field(default_factory=lambda: datetime.now(tz=UTC))


def random_local_parts(domain: str, count: int = CATCH_ALL_PROBES) -> list[str]:
    """``count`` random-looking local parts of 12-16 lower-case letters and digits.

    Stable for a domain for one UTC day: a greylisting server holds a first attempt per
    (sender, recipient), so the retry must ask for the same random addresses to get past it.
    Salted with the secret key so they cannot be predicted and created.
    """
    salt = str(getattr(settings, "SECRET_KEY", ""))
    day = datetime.now(tz=UTC).date().isoformat()
    seed = hashlib.sha256(f"{salt}:{domain}:{day}".encode()).digest()
    rng = random.Random(seed)
    parts: list[str] = []
    while len(parts) < count:
        length = rng.randint(12, 16)
        # A letter first: some servers refuse local parts that start with a digit.
        part = rng.choice(string.ascii_lowercase) + "".join(
            rng.choices(_RANDOM_ALPHABET, k=length - 1)
        )
        if part not in parts:
            parts.append(part)
    return parts


class _HostGate:
    """At most ``limit`` conversations with one MX host at a time, and starts spaced out."""

    def __init__(self, limit: int) -> None:
        self.slots = threading.BoundedSemaphore(limit)
        self._lock = threading.Lock()
        self._next_start = 0.0

    def wait_turn(self, pause: float) -> None:
        if pause <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + pause
        if start > now:
            time.sleep(start - now)


@dataclass
class _Conversation:
    """An open SMTP session, or why there is none."""

    smtp: smtplib.SMTP | None = None
    host: str | None = None
    code: int | None = None
    message: str = "no MX host could be reached"


class _Dropped(Exception):
    """The server closed the connection (or stopped answering) mid-conversation."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.result = RcptResult(RcptOutcome.UNKNOWN, message=message, reason=RcptReason.CONNECTION)


class SmtpProber:
    """Probes domains over SMTP; share one instance between threads to share host limits."""

    def __init__(
        self,
        *,
        helo: str | None = None,
        mail_from: str | None = None,
        port: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        per_host_limit: int = DEFAULT_PER_HOST_LIMIT,
        host_pause: float = DEFAULT_HOST_PAUSE,
        max_mx_hosts: int = DEFAULT_MAX_MX_HOSTS,
        resolver: MxResolver | None = None,
        offline: bool | None = None,
        cache: BaseCache | None = None,
        use_cache: bool = True,
        allow_private: bool | None = None,
    ) -> None:
        self.allow_private = allow_private_default() if allow_private is None else allow_private
        self.helo = helo or str(getattr(settings, "ENRICH_SMTP_HELO", "") or "localhost")
        configured_from = str(getattr(settings, "ENRICH_SMTP_FROM", "") or "")
        self.mail_from = mail_from or configured_from or f"verify@{self.helo}"
        self.port = port if port is not None else int(getattr(settings, "ENRICH_SMTP_PORT", 25))
        self.timeout = timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else timeout
        if per_host_limit < 1:
            raise ValueError("per_host_limit must be >= 1")
        self.per_host_limit = per_host_limit
        self.host_pause = host_pause
        self.max_mx_hosts = max_mx_hosts
        if offline is None:
            offline = bool(getattr(settings, "ENRICH_OFFLINE", False))
        self.offline = offline
        self.resolver = resolver if resolver is not None else MxResolver(offline=offline)
        if cache is None and use_cache:
            from django.core.cache import cache as default_cache

            cache = default_cache
        self.cache: BaseCache | None = cache if use_cache else None
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()

    def probe(self, domain: str, emails: list[str], mx: MxResult) -> DomainProbe:
        """Probe ``emails`` (all at ``domain``) on one connection to the domain's best MX."""
        domain = normalise_domain(domain, keep_www=True) or domain.strip().lower()
        emails = list(dict.fromkeys(emails))
        provider = accepts_all_provider_for(mx)
        untested = CatchAllVerdict(None, None, provider is not None, provider, "")

        if self.offline or not mx.accepts_mail:
            reason = RcptReason.OFFLINE if self.offline else RcptReason.NO_MX
            text = "offline" if self.offline else f"no mail host (MX {mx.status})"
            unknown = RcptResult(RcptOutcome.UNKNOWN, message=text, reason=reason)
            return _domain_probe(domain, {e: unknown for e in emails}, untested, None, text)

        verdict = self._cached_verdict(domain)
        if verdict is not None and verdict.catch_all:
            # Known catch-all: a connection would only confirm what we know.
            return _catch_all_probe(domain, emails, verdict, None)

        results = self._cached_results(emails)
        to_probe = [e for e in emails if e not in results]
        if not to_probe:
            return _domain_probe(domain, results, verdict or untested, None, "cached")

        with self._conversation(mx) as conv:
            if conv.smtp is None:
                # 421 at the greeting (RFC 5321 §3.1) is temporary; a refused or timed-out
                # connection usually means port 25 is blocked on our side: retrying won't help.
                temporary = conv.code == 421
                failure = RcptResult(
                    RcptOutcome.UNKNOWN,
                    code=conv.code,
                    message=conv.message,
                    retry_after=greylist_retry_delay(0) if temporary else None,
                    reason=RcptReason.TEMPORARY if temporary else RcptReason.CONNECTION,
                )
                results.update({e: failure for e in to_probe})
                return _domain_probe(domain, results, verdict or untested, None, conv.message)
            try:
                refusal = self._greet_and_mail_from(conv.smtp)
                if refusal is not None:
                    results.update({e: refusal for e in to_probe})
                    return _domain_probe(
                        domain, results, verdict or untested, conv.host, refusal.message
                    )
                if verdict is None:
                    verdict = self._detect_catch_all(conv.smtp, domain, provider)
                    if verdict.catch_all is not None or verdict.accepts_all_provider:
                        self._store_verdict(domain, verdict)
                    if verdict.catch_all:
                        return _catch_all_probe(domain, emails, verdict, conv.host)
                self._probe_candidates(conv.smtp, to_probe, provider, verdict, results)
            except _Dropped as dropped:
                for email in to_probe:
                    results.setdefault(email, dropped.result)
        self._store_results({e: results[e] for e in to_probe})
        return _domain_probe(domain, results, verdict or untested, conv.host, "")

    # --- conversation -------------------------------------------------------------------

    @contextmanager
    def _conversation(self, mx: MxResult) -> Iterator[_Conversation]:
        """Connect to the most preferred MX host that answers (RFC 5321 §5.1: try the next
        one when a host cannot be reached or answers 421), holding that host's slot until
        QUIT."""
        conv = _Conversation()
        for host in mx.hosts[: self.max_mx_hosts]:
            addresses = self.resolver.resolve_addresses(host)
            if not addresses:
                conv.message = f"MX host {host} has no address"
                continue
            gate = self._gate(host)
            with gate.slots:
                smtp = self._connect(host, addresses, gate, conv)
                if smtp is None:
                    continue
                try:
                    yield conv
                finally:
                    _quit(smtp)
                return
        yield conv

    def _connect(
        self, host: str, addresses: tuple[str, ...], gate: _HostGate, conv: _Conversation
    ) -> smtplib.SMTP | None:
        """An SMTP session with ``host`` that got a 220 greeting, or None (with the reason in
        ``conv``). Two addresses at most: a host whose first two addresses fail is down."""
        for address in addresses[:2]:
            if not self.allow_private and not is_public_ip(address.split("%", 1)[0]):
                # Without this, anyone who can ask for a probe could point a domain's MX at
                # 127.0.0.1 or 10.0.0.1 and use us to open connections (or time out) there.
                conv.code = None
                conv.message = (
                    f"MX host {host} resolves to {address}, which is not a public address"
                )
                continue
            gate.wait_turn(self.host_pause)
            smtp = smtplib.SMTP(local_hostname=self.helo, timeout=self.connect_timeout)
            try:
                code, message = smtp.connect(address, self.port)
            except (OSError, smtplib.SMTPException) as exc:
                conv.code, conv.message = None, f"connect to {host} ({address}): {exc}"
                smtp.close()
                continue
            if code != 220:
                conv.code, conv.message = code, _text(message)
                _quit(smtp)
                continue
            # The connect timeout is spent; from here each command gets its own.
            if smtp.sock is not None:
                smtp.sock.settimeout(self.timeout)
            conv.smtp, conv.host, conv.code = smtp, host, code
            return smtp
        return None

    def _gate(self, host: str) -> _HostGate:
        with self._gates_lock:
            if host not in self._gates:
                self._gates[host] = _HostGate(self.per_host_limit)
            return self._gates[host]

    def _greet_and_mail_from(self, smtp: smtplib.SMTP) -> RcptResult | None:
        """EHLO (HELO for old servers), then MAIL FROM. Returns the refusal, if any: it becomes
        every candidate's result, and is never "rejected" since no mailbox was looked at."""
        code, message = self._command(smtp.ehlo, self.helo)
        if code != 250:
            code, message = self._command(smtp.helo, self.helo)
        if code == 250:
            code, message = self._command(smtp.mail, self.mail_from)
        if code == 250:
            return None
        result = classify_reply(code, message)
        if result.reason == RcptReason.TEMPORARY:
            return result
        reason = RcptReason.POLICY if 500 <= code < 600 else RcptReason.PROTOCOL
        return replace(result, outcome=RcptOutcome.UNKNOWN, retry_after=None, reason=reason)

    def _detect_catch_all(
        self, smtp: smtplib.SMTP, domain: str, provider: str | None
    ) -> CatchAllVerdict:
        outcomes = []
        for local in random_local_parts(domain):
            code, message = self._command(smtp.rcpt, f"{local}@{domain}")
            outcomes.append(classify_reply(code, message, provider=provider).outcome)
        accepted = outcomes.count(RcptOutcome.ACCEPTED)
        rejected = outcomes.count(RcptOutcome.REJECTED)
        if accepted == len(outcomes) and provider is not None:
            reason = f"provider accepts all RCPT ({provider})"
            return CatchAllVerdict(None, None, True, provider, reason)
        if accepted == len(outcomes):
            return CatchAllVerdict(True, CATCH_ALL_ALL_ACCEPTED, False, provider, "catch-all")
        if rejected == len(outcomes):
            reason = "random addresses rejected"
            return CatchAllVerdict(False, CATCH_ALL_ALL_REJECTED, False, provider, reason)
        if accepted + rejected == 0:
            return CatchAllVerdict(None, None, False, provider, "catch-all test inconclusive")
        # Mixed answers: a smoothed share of acceptances, pulled towards one half because two
        # probes are little evidence.
        probability = round((accepted + 0.5) / (accepted + rejected + 1), 2)
        return CatchAllVerdict(None, probability, False, provider, "catch-all test inconsistent")

    def _probe_candidates(
        self,
        smtp: smtplib.SMTP,
        emails: list[str],
        provider: str | None,
        verdict: CatchAllVerdict,
        results: dict[str, RcptResult],
    ) -> None:
        """RCPT TO each address in turn, filling ``results`` as answers arrive so that a
        connection dropped half-way keeps the answers already given."""
        for email in emails:
            address = _smtp_address(email)
            if address is None:
                text = "non-ASCII local part needs SMTPUTF8 (RFC 6531); not probed"
                results[email] = RcptResult(RcptOutcome.UNKNOWN, message=text)
                continue
            result = classify_reply(*self._command(smtp.rcpt, address), provider=provider)
            if result.code == 452 and result.enhanced_code == "4.5.3":
                # "Too many recipients" (RFC 3463 4.5.3): start a new transaction and ask again.
                self._command(smtp.rset)
                self._command(smtp.mail, self.mail_from)
                result = classify_reply(*self._command(smtp.rcpt, address), provider=provider)
            if verdict.accepts_all_provider and result.outcome == RcptOutcome.ACCEPTED:
                # The provider would have said the same of any address.
                result = replace(
                    result, outcome=RcptOutcome.UNKNOWN, reason=RcptReason.PROVIDER_ACCEPTS_ALL
                )
            results[email] = result
            if result.code == 421:
                # RFC 5321 §3.8: the server is closing the channel; the rest get the same.
                raise _Dropped(result.message or "service closing (421)")

    def _command(self, method: Callable[..., tuple[int, bytes]], *args: str) -> tuple[int, str]:
        try:
            code, message = method(*args)
        except smtplib.SMTPServerDisconnected as exc:
            timed_out = isinstance(exc.__context__, TimeoutError)
            raise _Dropped(
                "server did not answer in time" if timed_out else "connection dropped"
            ) from exc
        except OSError as exc:
            raise _Dropped(f"socket error: {exc}") from exc
        return code, _text(message)

    # --- caching ------------------------------------------------------------------------
    # The shared cache is an optimisation: with Redis down we still probe, only more often.

    def _cached_verdict(self, domain: str) -> CatchAllVerdict | None:
        if self.cache is None:
            return None
        try:
            return CatchAllVerdict.from_cache(self.cache.get(CATCH_ALL_CACHE_PREFIX + domain))
        except (KeyError, TypeError, ValueError):
            return None  # absent, or written by another version of this module
        except Exception:
            logger.warning("smtp cache read failed", exc_info=True)
            return None

    def _store_verdict(self, domain: str, verdict: CatchAllVerdict) -> None:
        self._cache_write({CATCH_ALL_CACHE_PREFIX + domain: asdict(verdict)})

    def _cached_results(self, emails: list[str]) -> dict[str, RcptResult]:
        if self.cache is None or not emails:
            return {}
        keys = {RCPT_CACHE_PREFIX + e.lower(): e for e in emails}
        try:
            raw = self.cache.get_many(list(keys))
        except Exception:
            logger.warning("smtp cache read failed", exc_info=True)
            return {}
        results: dict[str, RcptResult] = {}
        for key, data in raw.items():
            with suppress(KeyError, TypeError, ValueError):
                results[keys[key]] = RcptResult.from_cache(data)
        return results

    def _store_results(self, results: dict[str, RcptResult]) -> None:
        # Only answers about the mailbox are worth keeping; an unknown is retried next time.
        self._cache_write(
            {
                RCPT_CACHE_PREFIX + email.lower(): result.to_cache()
                for email, result in results.items()
                if result.outcome != RcptOutcome.UNKNOWN
            }
        )

    def _cache_write(self, entries: dict[str, Any]) -> None:
        if self.cache is None or not entries:
            return
        try:
            self.cache.set_many(entries, CACHE_TTL)
        except Exception:
            logger.warning("smtp cache write failed", exc_info=True)


def _domain_probe(
    domain: str,
    results: dict[str, RcptResult],
    verdict: CatchAllVerdict,
    mx_host: str | None,
    reason: str,
) -> DomainProbe:
    return DomainProbe(
        domain=domain,
        catch_all=verdict.catch_all,
        catch_all_probability=verdict.probability,
        accepts_all_provider=verdict.accepts_all_provider,
        results=results,
        provider=verdict.provider,
        mx_host=mx_host,
        reason=reason or verdict.reason or "catch-all not tested",
    )


def _catch_all_probe(
    domain: str, emails: list[str], verdict: CatchAllVerdict, mx_host: str | None
) -> DomainProbe:
    unknown = RcptResult(
        RcptOutcome.UNKNOWN,
        message="domain accepts any address (catch-all); not probed",
        reason=RcptReason.CATCH_ALL,
    )
    return _domain_probe(domain, {e: unknown for e in emails}, verdict, mx_host, "")


def _smtp_address(email: str) -> str | None:
    """The address as an SMTP command can carry it without SMTPUTF8: the domain in IDNA
    form; None when the local part itself is not ASCII."""
    local, _, domain = email.rpartition("@")
    if not local.isascii():
        return None
    return f"{local}@{normalise_domain(domain, keep_www=True) or domain}"


def _text(message: bytes | str) -> str:
    if isinstance(message, bytes):
        return message.decode("utf-8", errors="replace")
    return message


def _quit(smtp: smtplib.SMTP) -> None:
    # QUIT is a courtesy (RFC 5321 §4.1.1.10); a server that already hung up is no error.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
