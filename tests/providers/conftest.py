"""Shared pieces for the adapter tests: transports, recorded provider answers, error tables.

Each adapter is tested against a real HTTP server on loopback (pytest-httpserver) replaying the
provider's documented answers from ``fixtures/<provider>/``. :func:`standard_cases` is the
error table every adapter goes through (401, 402, 404, 429 with and without ``Retry-After``,
500, a timeout, malformed JSON, an empty body); each test file overrides the rows where its
provider behaves differently.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from providers.adapters.base import ProviderResult
from providers.errors import (
    AuthenticationError,
    ProviderError,
    ProviderFailure,
    TemporaryError,
)
from providers.http import HttpTransport

FIXTURES = Path(__file__).parent / "fixtures"
#: The credential every adapter test uses; it must never show up in messages or stored answers.
SECRET = "sk_live_SECRET_9f8e7d6c5b4a"
#: Seconds a "slow" handler sleeps; the error-table transport gives up after TIMEOUT.
TIMEOUT = 0.4
SLOW_SECONDS = 1.0
SLOW = object()
NO_MATCH = "no_match"
CASE_ARGS = ("status", "body", "headers", "expected")


def fixture_bytes(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def fixture_json(provider: str, name: str) -> Any:
    return json.loads(fixture_bytes(provider, name))


@pytest.fixture
def transport() -> Iterator[HttpTransport]:
    t = HttpTransport(timeout=TIMEOUT, allow_private=True, offline=False)
    yield t
    t.close()


# Set while no slow handler is running. The test server answers one request at a time, so a
# test that provoked a timeout waits for the handler to finish before the next test's requests.
_slow_done = threading.Event()
_slow_done.set()


def slow_handler(request: Request) -> Response:
    try:
        time.sleep(SLOW_SECONDS)
        return Response("{}", status=200, content_type="application/json")
    finally:
        _slow_done.set()


def respond_slowly(expectation: Any) -> None:
    """Answer an expected request only after the transport has given up."""
    _slow_done.clear()
    expectation.respond_with_handler(slow_handler)


def settle() -> None:
    """Wait for a slow handler still sleeping on the server (no-op when there is none)."""
    assert _slow_done.wait(SLOW_SECONDS * 5), "slow handler did not finish"


def serve(httpserver: Any, path: str, method: str, status: int, body: Any, headers: dict) -> None:
    """Answer ``path`` with one row of an error table."""
    expectation = httpserver.expect_request(path, method=method)
    if body is SLOW:
        respond_slowly(expectation)
    else:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        expectation.respond_with_data(
            data, status=status, headers=headers, content_type="application/json"
        )


def standard_cases(**overrides: Any) -> list[Any]:
    """The common error table; ``name=None`` drops a row, ``name=(...)`` replaces it.

    ``expected`` is ``NO_MATCH`` or ``(error class, code[, retry_after])``.
    """
    cases: dict[str, Any] = {
        "401": (
            401,
            {"error": f"Invalid API key {SECRET}"},
            {},
            (AuthenticationError, "invalid_key"),
        ),
        "402": (402, {"error": "Not enough credits"}, {}, (ProviderFailure, "quota_exhausted")),
        "404": (404, {"error": "No records were found"}, {}, NO_MATCH),
        "429-retry-after-seconds": (
            429,
            {"error": "Too many requests"},
            {"Retry-After": "7"},
            (TemporaryError, "rate_limited", 7.0),
        ),
        "429-retry-after-date": (
            429,
            {"error": "Too many requests"},
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            (TemporaryError, "rate_limited", 0.0),  # a date in the past means "now"
        ),
        "429-no-retry-after": (429, b"", {}, (TemporaryError, "rate_limited", None)),
        "500": (500, b"<html>Internal Server Error</html>", {}, (TemporaryError, "server_error")),
        "timeout": (200, SLOW, {}, (TemporaryError, "timeout")),
        "malformed-json": (
            200,
            b'{"data": {"email": ',
            {},
            (ProviderFailure, "malformed_response"),
        ),
        "empty-body": (200, b"", {}, (ProviderFailure, "malformed_response")),
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            cases.pop(name, None)
        else:
            cases[name] = value
    return [pytest.param(*value, id=name) for name, value in cases.items()]


def assert_outcome(
    call: Callable[[], ProviderResult], expected: Any
) -> ProviderResult | ProviderError:
    """Run ``call`` and check it gave ``expected``; credentials must not leak either way."""
    if expected == NO_MATCH:
        result = call()
        assert result.found is False
        assert result.fields == {}
        assert SECRET not in json.dumps(result.raw, default=str)
        return result
    cls, code, *rest = expected
    try:
        with pytest.raises(ProviderError) as caught:
            call()
    finally:
        settle()
    error = caught.value
    assert type(error) is cls, f"{type(error).__name__}({error.code}) instead of {cls.__name__}"
    assert error.code == code
    assert code in cls.CODES
    if rest:
        assert error.retry_after == rest[0]
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    assert SECRET not in json.dumps(error.to_dict())
    return error


def assert_no_secret(result: ProviderResult) -> None:
    dumped = json.dumps(
        {
            "raw": result.raw,
            "extra": result.extra,
            "fields": {k: v.value for k, v in result.fields.items()},
        },
        default=str,
    )
    assert SECRET not in dumped
