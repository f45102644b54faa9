"""Does a domain accept email? MX look-ups with dnspython.

The answer is one of five statuses (:class:`MxStatus`):

* ``present`` - the domain publishes MX records (RFC 5321 §5.1);
* ``implicit`` - no MX, but the domain has an A/AAAA record, which RFC 5321 §5.1 treats as an
  implicit MX of preference 0 pointing at the domain itself;
* ``null`` - the domain publishes the RFC 7505 "null MX" (a single ``MX 0 .``): it explicitly
  accepts no mail;
* ``none`` - the domain does not exist (NXDOMAIN) or has neither MX nor address records;
* ``unknown`` - we could not tell: timeout, SERVFAIL, no nameserver answered, or offline mode.

A timeout is never ``none``: a slow nameserver says nothing about the mailbox, and marking
good addresses invalid because of a network hiccup is the costlier mistake. Nor is NXDOMAIN
from a *blind* resolver, one that says every name is missing (a machine without outside DNS):
when names that certainly exist (:data:`CANARY_DOMAINS`) are NXDOMAIN too, every NXDOMAIN is
``unknown`` with the reason :data:`DNS_UNAVAILABLE` (:meth:`MxResolver.dns_blind`).

Look-ups are cached twice: an in-process memo (so the 20 addresses of one company in a job
cost one dictionary hit each, not one Redis round trip) in front of the Django cache (so
workers share answers for a day). :meth:`MxResolver.resolve_many` looks every distinct domain
up once, concurrently, with a bound on the number of queries in flight.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
from django.conf import settings
from django.core.cache import BaseCache
from django.db import models

from enrichment.emails.domains import normalise_domain

logger = logging.getLogger(__name__)

T = TypeVar("T")

CACHE_KEY_PREFIX = "mx:v1:"
ADDRESS_CACHE_KEY_PREFIX = "mx:addr:v1:"

# Positive answers change rarely (companies move mail providers a few times a decade).
TTL_POSITIVE = 24 * 3600
# A missing domain may be registered tomorrow, and a null MX may be lifted: re-check sooner.
TTL_NEGATIVE = 3600
# "unknown" is a failure to learn anything: retry soon, but not on every address of a job.
TTL_UNKNOWN = 5 * 60

DEFAULT_TIMEOUT = 5.0
#: Names that certainly exist (RFC 2606 §3: IANA keeps example.com registered). A resolver
#: that calls them NXDOMAIN says so of every name, and its NXDOMAIN proves nothing.
CANARY_DOMAINS = ("example.com",)
DNS_UNAVAILABLE = "DNS unavailable"
#: The one line the commands print when the resolver is blind.
DNS_UNAVAILABLE_NOTICE = (
    "DNS unavailable: the resolver says even example.com does not exist, so no domain can be "
    "checked; such addresses are 'unknown', not 'invalid'"
)
DEFAULT_CONCURRENCY = 64


class MxStatus(models.TextChoices):
    PRESENT = "present", "MX records present"
    IMPLICIT = "implicit", "No MX, address record used as implicit MX"
    NULL = "null", "Null MX: accepts no mail"
    NONE = "none", "Domain does not exist or has no mail host"
    UNKNOWN = "unknown", "Could not be determined"


_TTL_BY_STATUS: dict[str, int] = {
    MxStatus.PRESENT: TTL_POSITIVE,
    MxStatus.IMPLICIT: TTL_POSITIVE,
    MxStatus.NULL: TTL_NEGATIVE,
    MxStatus.NONE: TTL_NEGATIVE,
    MxStatus.UNKNOWN: TTL_UNKNOWN,
}


def _now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True)
class MxResult:
    """What DNS says about one domain's mail exchangers.

    ``hosts`` are sorted by MX preference (lowest first, RFC 5321 §5.1), ties by name so the
    order is stable; for an implicit MX it is the domain itself.
    """

    domain: str
    status: MxStatus
    hosts: tuple[str, ...] = ()
    reason: str = ""
    checked_at: datetime = field(default_factory=_now)

    @property
    def best(self) -> str | None:
        """The most preferred mail host, or None when the domain has none."""
        return self.hosts[0] if self.hosts else None

    @property
    def accepts_mail(self) -> bool:
        return self.status in (MxStatus.PRESENT, MxStatus.IMPLICIT)

    def to_cache(self) -> dict[str, Any]:
        # A plain dict rather than the pickled dataclass: a cached entry must survive this
        # class gaining a field, and other processes may run an older deploy.
        return {
            "domain": self.domain,
            "status": str(self.status),
            "hosts": list(self.hosts),
            "reason": self.reason,
            "checked_at": self.checked_at.isoformat(),
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> MxResult:
        return cls(
            domain=data["domain"],
            status=MxStatus(data["status"]),
            hosts=tuple(data["hosts"]),
            reason=data["reason"],
            checked_at=datetime.fromisoformat(data["checked_at"]),
        )


def parse_nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    """``host[:port]`` to a dnspython nameserver; IPv6 as ``::1`` or ``[::1]:5353``.

    Only IP addresses are accepted: resolving a nameserver's own name would need another
    resolver, and a configuration error should fail loudly rather than fall back silently.
    """
    value = text.strip()
    host, port = value, 53
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep:
            raise ValueError(f"Bad nameserver {text!r}: missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"Bad nameserver {text!r}")
            port = _parse_port(text, rest[1:])
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = _parse_port(text, port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"Bad nameserver {text!r}: expected an IP address[:port]") from None
    return dns.nameserver.Do53Nameserver(host, port)


def _parse_port(text: str, port_text: str) -> int:
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"Bad nameserver {text!r}: port is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"Bad nameserver {text!r}: port out of range")
    return port


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    Django views, management commands and Celery tasks are synchronous: ``asyncio.run`` gives
    them a private loop. Inside a running loop (an async view, a Channels consumer) a nested
    ``asyncio.run`` is forbidden, so the work moves to a short-lived thread with its own loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mx-resolve") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


class MxResolver:
    """MX look-ups with caching and bounded concurrency.

    One instance per job (or per worker process): its memo lives as long as it does, with
    the same expiry as the shared cache. Thread-safe.
    """

    def __init__(
        self,
        *,
        nameservers: list[str] | None = None,
        offline: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        cache: BaseCache | None = None,
        use_cache: bool = True,
    ) -> None:
        if nameservers is None:
            nameservers = list(getattr(settings, "ENRICH_DNS_NAMESERVERS", []) or [])
        self.nameservers = [parse_nameserver(ns) for ns in nameservers if ns.strip()]
        self.offline = (
            bool(getattr(settings, "ENRICH_OFFLINE", False)) if offline is None else offline
        )
        self.timeout = timeout
        if cache is None and use_cache:
            from django.core.cache import cache as default_cache

            cache = default_cache
        self.cache: BaseCache | None = cache if use_cache else None
        self._memo: dict[str, tuple[float, Any]] = {}
        self._memo_lock = threading.Lock()
        self._blind: tuple[float, bool] | None = None

    # --- public API ---------------------------------------------------------------------

    def resolve(self, domain: str) -> MxResult:
        return self.resolve_many([domain])[domain]

    def resolve_many(
        self, domains: Iterable[str], concurrency: int = DEFAULT_CONCURRENCY
    ) -> dict[str, MxResult]:
        """Results keyed by each domain exactly as given; every distinct (normalised) domain is
        looked up at most once, with at most ``concurrency`` look-ups in flight."""
        given = list(dict.fromkeys(domains))
        normalized = {d: normalise_domain(d, keep_www=True) for d in given}
        found: dict[str, MxResult] = {}

        wanted = {n for n in normalized.values() if n is not None}
        if self.offline:
            found = {n: MxResult(n, MxStatus.UNKNOWN, reason="offline") for n in wanted}
        else:
            found = self._from_memo(wanted, CACHE_KEY_PREFIX)
            missing = wanted - found.keys()
            if missing:
                cached = self._from_shared_cache(missing, CACHE_KEY_PREFIX, MxResult.from_cache)
                found.update(cached)
                missing -= cached.keys()
            if missing:
                fresh = run_coroutine(lambda: self._lookup_all(sorted(missing), concurrency))
                # Only when nothing in the batch got a real answer: one name that resolves
                # shows the resolver sees outside DNS, and then NXDOMAIN means what it says.
                answered = any(
                    r.status != MxStatus.UNKNOWN and not _is_nxdomain(r) for r in fresh.values()
                )
                nxdomain = any(_is_nxdomain(r) for r in fresh.values())
                if nxdomain and not answered and self.dns_blind():
                    fresh = {
                        name: MxResult(name, MxStatus.UNKNOWN, reason=DNS_UNAVAILABLE)
                        if _is_nxdomain(result)
                        else result
                        for name, result in fresh.items()
                    }
                self._store(fresh)
                found.update(fresh)

        out: dict[str, MxResult] = {}
        for original, norm in normalized.items():
            if norm is None:
                out[original] = MxResult(
                    original.strip(), MxStatus.NONE, reason="not a valid domain name"
                )
            else:
                out[original] = found[norm]
        return out

    def dns_blind(self) -> bool:
        """Whether the resolver answers NXDOMAIN even for :data:`CANARY_DOMAINS`; asked once
        per :data:`TTL_UNKNOWN` per resolver. False offline (nothing is looked up then)."""
        if self.offline:
            return False
        with self._memo_lock:
            if self._blind is not None and self._blind[0] > time.monotonic():
                return self._blind[1]
        blind = run_coroutine(self._canaries_missing)
        with self._memo_lock:
            self._blind = (time.monotonic() + TTL_UNKNOWN, blind)
        return blind

    async def _canaries_missing(self) -> bool:
        resolver = self._make_resolver()
        for name in CANARY_DOMAINS:
            try:
                await resolver.resolve(name, "A")
            except dns.resolver.NXDOMAIN:
                continue
            except dns.exception.DNSException:
                return False  # no answer, or an answer without NXDOMAIN: not blind
            return False
        return True

    def resolve_addresses(self, host: str) -> tuple[str, ...]:
        """IP addresses of a mail host through the same nameservers as the MX look-up, so a
        test zone (or a split-horizon resolver) decides where the SMTP prober connects.
        IPv4 first: many networks that probe SMTP have no IPv6 route."""
        try:
            return (str(ipaddress.ip_address(host.strip("[]"))),)
        except ValueError:
            pass
        norm = normalise_domain(host, keep_www=True)
        if norm is None or self.offline:
            return ()
        memo = self._from_memo({norm}, ADDRESS_CACHE_KEY_PREFIX)
        if norm in memo:
            return memo[norm]
        cached = self._from_shared_cache({norm}, ADDRESS_CACHE_KEY_PREFIX, tuple)
        if norm in cached:
            return cached[norm]
        addresses = run_coroutine(lambda: self._addresses(norm))
        ttl = TTL_POSITIVE if addresses else TTL_UNKNOWN
        self._remember(ADDRESS_CACHE_KEY_PREFIX + norm, addresses, ttl)
        self._to_shared_cache({ADDRESS_CACHE_KEY_PREFIX + norm: list(addresses)}, ttl)
        return addresses

    def forget(self, domain: str) -> None:
        """Drop a domain from both caches (after a bounce says our answer was stale)."""
        norm = normalise_domain(domain, keep_www=True)
        if norm is None:
            return
        with self._memo_lock:
            self._memo.pop(CACHE_KEY_PREFIX + norm, None)
        if self.cache is not None:
            try:
                self.cache.delete(CACHE_KEY_PREFIX + norm)
            except Exception:
                logger.warning("mx cache delete failed", exc_info=True)

    # --- caching ------------------------------------------------------------------------

    def _from_memo(self, names: set[str], prefix: str) -> dict[str, Any]:
        now = time.monotonic()
        hits: dict[str, Any] = {}
        with self._memo_lock:
            for name in names:
                entry = self._memo.get(prefix + name)
                if entry is None:
                    continue
                if entry[0] <= now:
                    del self._memo[prefix + name]
                    continue
                hits[name] = entry[1]
        return hits

    def _remember(self, key: str, value: Any, ttl: int) -> None:
        with self._memo_lock:
            self._memo[key] = (time.monotonic() + ttl, value)

    def _from_shared_cache(
        self, names: set[str], prefix: str, decode: Callable[[Any], Any]
    ) -> dict[str, Any]:
        if self.cache is None:
            return {}
        try:
            raw = self.cache.get_many([prefix + n for n in names])
        except Exception:
            # The shared cache is an optimisation: with Redis down we still verify, only slower.
            logger.warning("mx cache read failed", exc_info=True)
            return {}
        hits: dict[str, Any] = {}
        for key, data in raw.items():
            name = key[len(prefix) :]
            try:
                value = decode(data)
            except (KeyError, TypeError, ValueError):
                continue  # an entry written by another version: look it up again
            hits[name] = value
            # The shared cache does not tell us the remaining TTL; the shortest one for the
            # kind of answer keeps the memo from outliving the shared entry by much.
            ttl = _TTL_BY_STATUS[value.status] if isinstance(value, MxResult) else TTL_UNKNOWN
            self._remember(key, value, ttl)
        return hits

    def _to_shared_cache(self, entries: dict[str, Any], ttl: int) -> None:
        if self.cache is None or not entries:
            return
        try:
            self.cache.set_many(entries, timeout=ttl)
        except Exception:
            logger.warning("mx cache write failed", exc_info=True)

    def _store(self, results: dict[str, MxResult]) -> None:
        by_ttl: dict[int, dict[str, Any]] = {}
        for name, result in results.items():
            ttl = _TTL_BY_STATUS[result.status]
            self._remember(CACHE_KEY_PREFIX + name, result, ttl)
            by_ttl.setdefault(ttl, {})[CACHE_KEY_PREFIX + name] = result.to_cache()
        for ttl, entries in by_ttl.items():
            self._to_shared_cache(entries, ttl)

    # --- DNS ----------------------------------------------------------------------------

    def _make_resolver(self) -> dns.asyncresolver.Resolver:
        if self.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = list(self.nameservers)
        else:
            resolver = dns.asyncresolver.Resolver()
        # One budget per query: the per-server timeout and the overall lifetime are the same,
        # so a dead nameserver costs ``timeout`` once rather than once per retry.
        resolver.timeout = self.timeout
        resolver.lifetime = self.timeout
        return resolver

    async def _lookup_all(self, names: list[str], concurrency: int) -> dict[str, MxResult]:
        resolver = self._make_resolver()
        results: dict[str, MxResult] = {}
        pending: Iterator[str] = iter(names)

        # A fixed pool of workers pulling from one iterator bounds the queries in flight
        # without creating one task per domain up front (a 100k-domain file stays small).
        async def worker() -> None:
            for name in pending:
                results[name] = await self._lookup(resolver, name)

        workers = max(1, min(concurrency, len(names)))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return results

    async def _lookup(self, resolver: dns.asyncresolver.Resolver, domain: str) -> MxResult:
        try:
            answer = await resolver.resolve(domain, "MX")
        except dns.resolver.NoAnswer:
            return await self._implicit_mx(resolver, domain)
        except dns.exception.DNSException as exc:
            status, reason = _classify_failure(exc)
            return MxResult(domain, status, reason=reason)

        # RFC 7505 §3: a null MX is a single record whose exchange is the root ("."). A stray
        # "." among real hosts is ignored: §4.3 says a null MX must be the only record, so the
        # real hosts are the publisher's intent.
        records = sorted(
            (rdata.preference, rdata.exchange.to_text(omit_final_dot=True).lower())
            for rdata in answer
            if rdata.exchange != dns.name.root
        )
        hosts = tuple(dict.fromkeys(host for _, host in records))
        if not hosts:
            return MxResult(domain, MxStatus.NULL, reason="null MX (RFC 7505): accepts no mail")
        return MxResult(domain, MxStatus.PRESENT, hosts=hosts, reason=f"MX {hosts[0]}")

    async def _implicit_mx(self, resolver: dns.asyncresolver.Resolver, domain: str) -> MxResult:
        # RFC 5321 §5.1: with no MX records, the domain's own address record is the mail host.
        for rdtype in ("A", "AAAA"):
            try:
                await resolver.resolve(domain, rdtype)
            except dns.resolver.NoAnswer:
                continue
            except dns.exception.DNSException as exc:
                status, reason = _classify_failure(exc)
                return MxResult(domain, status, reason=f"no MX; {rdtype} look-up: {reason}")
            return MxResult(
                domain,
                MxStatus.IMPLICIT,
                hosts=(domain,),
                reason=f"no MX; {rdtype} record used as implicit MX (RFC 5321 §5.1)",
            )
        return MxResult(domain, MxStatus.NONE, reason="no MX and no A/AAAA records")

    async def _addresses(self, host: str) -> tuple[str, ...]:
        resolver = self._make_resolver()
        for rdtype in ("A", "AAAA"):
            try:
                answer = await resolver.resolve(host, rdtype)
            except dns.resolver.NoAnswer:
                continue
            except dns.exception.DNSException:
                return ()
            return tuple(rdata.address for rdata in answer)
        return ()


def _is_nxdomain(result: MxResult) -> bool:
    return result.status == MxStatus.NONE and "NXDOMAIN" in result.reason


def _classify_failure(exc: dns.exception.DNSException) -> tuple[MxStatus, str]:
    """Tell apart the failures that prove something (NXDOMAIN) from those that do not."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return MxStatus.NONE, "domain does not exist (NXDOMAIN)"
    if isinstance(exc, dns.exception.Timeout):
        return MxStatus.UNKNOWN, "DNS timeout"
    if isinstance(exc, dns.resolver.NoNameservers):
        # Each entry is (server, tcp, port, error-or-rcode-text, response).
        errors = exc.kwargs.get("errors") or []
        if any(len(err) > 3 and err[3] == "SERVFAIL" for err in errors):
            return MxStatus.UNKNOWN, "SERVFAIL"
        return MxStatus.UNKNOWN, "no nameserver could answer"
    return MxStatus.UNKNOWN, f"DNS error ({type(exc).__name__})"
