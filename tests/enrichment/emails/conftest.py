"""Fixtures for the email tests: loopback DNS and SMTP servers and a private cache.

Servers start on random ports of 127.0.0.1 and stop when the test ends. Each test gets its own
in-memory cache, so no answer leaks from one test to the next and nothing touches the Redis
database other suites share.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache.backends.locmem import LocMemCache

from enrichment.emails.mx import CANARY_DOMAINS, MxResolver
from enrichment.emails.smtp import SmtpProber
from tests.support.dns_server import DnsServer, Zones
from tests.support.smtp_server import SmtpServer


@pytest.fixture
def email_cache() -> LocMemCache:
    return LocMemCache(f"emails-{uuid.uuid4().hex}", {"TIMEOUT": None})


#: What a resolver with outside DNS knows beside the test zones: the names that certainly
#: exist, so NXDOMAIN for a test domain is believed (see ``MxResolver.dns_blind``).
OUTSIDE_DNS: Zones = {name: {"A": ["192.0.2.1"]} for name in CANARY_DOMAINS}


@pytest.fixture
def dns_server() -> Iterator[Callable[..., DnsServer]]:
    """``dns_server(zones, drop=..., servfail=..., delay=..., outside=True)`` starts a DNS
    server; ``outside=False`` leaves out the names every real resolver knows (a blind one)."""
    started: list[DnsServer] = []

    def start(zones: Zones, *, outside: bool = True, **kwargs: Any) -> DnsServer:
        server = DnsServer({**OUTSIDE_DNS, **zones} if outside else zones, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    """``smtp_server(handler)`` starts an SMTP server with one of the support handlers."""
    started: list[SmtpServer] = []

    def start(handler: Any, **kwargs: Any) -> SmtpServer:
        server = SmtpServer(handler, **kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def make_resolver(email_cache: LocMemCache) -> Callable[..., MxResolver]:
    def make(server: DnsServer, **kwargs: Any) -> MxResolver:
        kwargs.setdefault("cache", email_cache)
        kwargs.setdefault("timeout", 2.0)
        kwargs.setdefault("offline", False)
        return MxResolver(nameservers=[server.nameserver], **kwargs)

    return make


@pytest.fixture
def make_prober(email_cache: LocMemCache) -> Callable[..., SmtpProber]:
    """A prober talking to ``smtp``'s port, resolving MX hosts through ``resolver``; no pause
    between connections, short timeouts."""

    def make(smtp: SmtpServer, resolver: MxResolver, **kwargs: Any) -> SmtpProber:
        kwargs.setdefault("cache", email_cache)
        kwargs.setdefault("timeout", 3.0)
        kwargs.setdefault("host_pause", 0)
        kwargs.setdefault("offline", False)
        return SmtpProber(port=smtp.port, resolver=resolver, **kwargs)

    return make
