"""A loopback provider that enforces its own limits, for tests and benchmarks.

It answers every request with one JSON body (a provider's documented response), after
``delay`` seconds, and enforces what a real provider does: a token bucket of ``burst``
requests refilled at ``rate`` per second and at most ``max_in_flight`` requests at once; a
request over either limit is answered 429 with ``Retry-After``. It records every request's
arrival (its own monotonic clock), path and status, so tests check limits where they matter.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LimitedProvider:
    def __init__(
        self,
        body: Any,
        *,
        delay: float = 0.0,
        rate: float | None = None,
        burst: int = 1,
        max_in_flight: int | None = None,
        hang: threading.Event | None = None,
        miss: tuple[float, int, Any] | None = None,
    ) -> None:
        self.body = json.dumps(body).encode()
        #: ``(share, status, body)``: that share of the questions (the same ones every time,
        #: chosen by a hash of the request) get this answer instead: the provider's no-match.
        self.miss = None if miss is None else (miss[0], miss[1], json.dumps(miss[2]).encode())
        self.delay = delay
        self.rate, self.burst, self.max_in_flight = rate, burst, max_in_flight
        #: Admitted requests wait for this event before answering (a provider that hangs).
        self.hang = hang
        self.requests: list[tuple[float, str, int]] = []
        self.received = threading.Event()
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._refilled = time.monotonic()
        self._in_flight = 0
        #: Why requests were refused with 429: over the rate, or too many in flight.
        self.refusals: Counter[str] = Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                owner._serve(self)

            do_POST = do_GET  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _admit(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self.rate:
                self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
                self._refilled = now
            over_rate = self.rate is not None and self._tokens < 1
            busy = self.max_in_flight is not None and self._in_flight >= self.max_in_flight
            if over_rate or busy:
                self.refusals["rate" if over_rate else "in flight"] += 1
                return False
            if self.rate:
                self._tokens -= 1
            self._in_flight += 1
            return True

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        payload = handler.rfile.read(length) if length else b""
        admitted = self._admit()
        with self._lock:
            self.requests.append((time.monotonic(), handler.path, 200 if admitted else 429))
        self.received.set()
        if not admitted:
            self._reply(handler, 429, b'{"error": "too many requests"}', {"Retry-After": "1"})
            return
        try:
            if self.hang is not None:
                self.hang.wait(60)
            if self.delay:
                time.sleep(self.delay)
            if self.miss is not None:
                digest = hashlib.sha256(handler.path.encode() + payload).digest()
                if int.from_bytes(digest[:4], "big") / 2**32 < self.miss[0]:
                    self._reply(handler, self.miss[1], self.miss[2], {})
                    return
            self._reply(handler, 200, self.body, {})
        finally:
            with self._lock:
                self._in_flight -= 1

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the caller went away (a killed worker)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def statuses(self) -> list[int]:
        with self._lock:
            return [status for _, _, status in self.requests]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hang is not None:
            self.hang.set()
        self.server.shutdown()
        self.server.server_close()
