"""Helpers for the provider client tests: a test adapter, a loopback server, process workers.

Worker functions live here, not in the test modules, because ``multiprocessing`` with the
``spawn`` start method imports the target's module in the child by name. Each worker calls
:func:`child_setup` first: a spawned child starts with fresh settings, so the test database
the parent uses is handed over explicitly.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from providers.adapters.base import (
    Adapter,
    Operation,
    OperationSpec,
    ProviderResult,
    RequestSpec,
    Transport,
    build_fields,
)
from providers.adapters.values import (
    ensure_mapping,
    to_decimal,
)

API_KEY = "sk-test-5f1b2c3d4e"


def unique_slug(prefix: str = "p") -> str:
    """Slugs unique per test, so rows of one test are easy to tell from another's."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- The test adapter ------------------------------------------------------------------------


class EchoAdapter(Adapter):
    """``GET /find?domain=...`` → ``{"email": ..., "score": ...}``; no email means no match."""

    slug = "test-echo"
    label = "Test echo"
    docs_url = "http://127.0.0.1/"
    default_base_url = "http://127.0.0.1:9"
    operations = {
        Operation.FIND_EMAIL: OperationSpec(
            required=("domain",),
            optional=("first_name", "last_name", "full_name"),
            outputs=("email",),
            cost=Decimal("0.0100"),
        ),
    }

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        response = transport.send(
            RequestSpec(
                "GET",
                self.url("/find"),
                params={"domain": inputs["domain"], "first_name": inputs.get("first_name", "")},
                headers={"X-Api-Key": self.require_credential()},
            )
        )
        self.raise_for_status(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        credits_left = response.headers.get("X-Credits-Left")
        if not body.get("email"):
            return self.no_match(body, http_status=response.status)
        return ProviderResult(
            found=True,
            fields=build_fields({"email": (body["email"], body.get("score", 90))}),
            raw=body,
            cost=self.cost_for(op),
            credits_left=None if credits_left is None else to_decimal(credits_left, default=None),
            http_status=response.status,
        )


class BrokenAdapter(EchoAdapter):
    """An adapter with a parsing bug, to see what the client makes of unexpected exceptions."""

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        transport.send(RequestSpec("GET", self.url("/find")))
        raise KeyError("data")


def make_provider(base_url: str, **overrides: Any) -> Any:
    """A saved Provider for :class:`EchoAdapter` with a stored API key."""
    from providers.models import Provider

    fields: dict[str, Any] = {
        "slug": unique_slug("echo"),
        "name": "Echo",
        "adapter": "test-echo",
        "base_url": base_url,
        "timeout_seconds": Decimal("5"),
        "price_per_call": Decimal("0.0100"),
        **overrides,
    }
    provider = Provider(**fields)
    provider.set_credentials({"api_key": API_KEY})
    provider.save()
    return provider


# --- A threaded loopback provider --------------------------------------------------------------


class LoopbackProvider:
    """A threaded HTTP server answering ``/find`` like :class:`EchoAdapter` expects.

    It records the arrival time (its own monotonic clock) and ``X-Worker`` header of every
    request, so limits are checked where they matter: at the server. ``delay`` holds each
    answer back, which widens the window in which concurrent callers overlap.
    """

    def __init__(self, *, delay: float = 0.0, email: str | None = "ada@acme.example") -> None:
        self.delay = delay
        self.email = email
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add 40 ms to every answer.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                with owner._lock:
                    owner.arrivals.append((time.monotonic(), self.headers.get("X-Worker", "")))
                if owner.delay:
                    time.sleep(owner.delay)
                body = json.dumps({"email": owner.email, "score": 91}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackProvider:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def max_in_window(self, seconds: float) -> int:
        """The most requests that arrived within any window of ``seconds``."""
        with self._lock:
            times = sorted(t for t, _ in self.arrivals)
        best, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best


# --- Process workers ---------------------------------------------------------------------------


def child_setup(db_name: str | None = None) -> None:
    """Configure Django in a spawned child like the parent test, on the same test database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()
    if db_name:
        from django.db import connections

        # No connection exists yet: point the alias at the test database before it opens.
        connections["default"].settings_dict["NAME"] = db_name


def client_call(
    db_name: str, provider_id: int, inputs: dict[str, Any], start: Any, results: Any
) -> None:
    """One provider call through the real client, from another process."""
    child_setup(db_name)
    from django.db import connection

    from providers.client import ProviderClient
    from providers.models import Provider

    try:
        provider = Provider.objects.get(pk=provider_id)
        client = ProviderClient(provider, adapter_class=EchoAdapter)
        start.wait(30)
        result = client.call("find_email", inputs)
        results.put((result.value("email"), bool(result.extra.get("cache_hit"))))
    except Exception as exc:  # noqa: BLE001 - report to the parent, which fails the test
        results.put(("error", repr(exc)))
    finally:
        connection.close()
