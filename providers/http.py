"""The production :class:`~providers.adapters.base.Transport`: urllib3, guarded and bounded.

Built on urllib3's pool manager directly rather than on ``requests``: a provider call is small,
so the per-request work of the HTTP library counts, and requests adds about as much again as
urllib3 itself for features we do not use (sessions, cookies, hooks, environment lookups).
What requests did for us is done here, the same way: query parameters, JSON and form bodies,
the default headers (including ``Accept-Encoding``, with decompression capped like the body).

One pool manager per mode reuses connections (TLS handshakes dominate the cost of small
provider calls); urllib3 neither retries nor follows redirects. Every request, and every
redirect hop (followed here, one at a time), goes through the SSRF guard in
:mod:`providers.netguard`; in guarded mode the socket's actual peer address is checked again
after connecting, so a DNS answer that changes between check and connect cannot reach a private
address. Bodies are streamed and cut off at ``max_bytes``. Nothing in an exception message comes
from the request URL's query string or headers, where credentials live.

Each pool keeps one connection per host, enough for one caller at a time: give each worker
thread its own transport.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from urllib3 import BaseHTTPResponse, PoolManager, Timeout
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InvalidHeader,
    LocationValueError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import make_headers
from urllib3.util.ssl_ import create_urllib3_context

from providers.adapters.base import HttpResponse, RequestSpec
from providers.errors import ClientError, ProviderError, ProviderFailure, TemporaryError
from providers.netguard import allow_private_default, check_ip, check_url

USER_AGENT = "leadforge/0.1 (self-hosted lead enrichment)"
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that may follow a redirect to another origin; the rest may carry credentials.
_CROSS_ORIGIN_SAFE_HEADERS = frozenset({"accept", "accept-language", "user-agent"})
_DEFAULT_HEADERS = {
    "User-Agent": USER_AGENT,
    # The encodings urllib3 can decode here (gzip and deflate, br/zstd when installed), as
    # requests asked for them.
    "Accept-Encoding": make_headers(accept_encoding=True)["accept-encoding"],
    "Accept": "application/json",
}
_READ_SIZE = 64 * 1024
# requests' rules for header fields: no line breaks, no leading whitespace, no colon in names.
_VALID_HEADER_NAME = re.compile(r"[^:\s][^:\r\n]*\Z")
_VALID_HEADER_VALUE = re.compile(r"(?:\S[^\r\n]*)?\Z")


def offline_default() -> bool:
    try:
        from django.conf import settings

        return bool(getattr(settings, "ENRICH_OFFLINE", False))
    except Exception:  # noqa: BLE001 - settings not configured: not offline.
        return False


class _PeerCheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock, self.host)
        return sock


class _PeerCheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _check_peer(sock, self.host)
        return sock


def _check_peer(sock: socket.socket, host: str) -> None:
    try:
        check_ip(sock.getpeername()[0], host=host)
    except ClientError:
        sock.close()
        raise


class _PeerCheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PeerCheckedHTTPConnection


class _PeerCheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PeerCheckedHTTPSConnection


class _PeerCheckedPoolManager(PoolManager):
    """Pools whose connections verify the address they actually connected to."""

    def __init__(self, **connection_pool_kw: Any) -> None:
        super().__init__(**connection_pool_kw)
        self.pool_classes_by_scheme = {"http": _PeerCheckedHTTPPool, "https": _PeerCheckedHTTPSPool}


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every pool, so the CA bundle is loaded once per process.

    The bundle is certifi's, as with requests; the system store if certifi is not installed.
    """
    context = create_urllib3_context()
    try:
        import certifi
    except ImportError:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile=certifi.where())
    return context


class HttpTransport:
    """Send :class:`RequestSpec` objects; see the module docstring.

    ``timeout`` bounds connecting and each read; the whole response must also arrive within
    three times that, so a server dripping bytes cannot hold a worker. ``allow_private`` and
    ``offline`` default to the ``ENRICH_ALLOW_PRIVATE_NETWORKS`` / ``ENRICH_OFFLINE`` settings,
    read at each send so tests can flip them.
    """

    def __init__(
        self,
        timeout: float,
        max_bytes: int = 5 * 1024 * 1024,
        allow_private: bool | None = None,
        offline: bool | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.allow_private = allow_private
        self.offline = offline
        self._timeout = Timeout(connect=timeout, read=timeout)
        # Pool managers read no proxy settings from the environment (a proxy would bypass the
        # peer check). maxsize=1: a transport serves one caller at a time.
        options: dict[str, Any] = {
            "retries": False,
            "timeout": self._timeout,
            "maxsize": 1,
            "ssl_context": _tls_context(),
        }
        self._guarded = _PeerCheckedPoolManager(**options)
        self._plain = PoolManager(**options)

    def close(self) -> None:
        self._guarded.clear()
        self._plain.clear()

    def __enter__(self) -> HttpTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, spec: RequestSpec) -> HttpResponse:
        offline = offline_default() if self.offline is None else self.offline
        if offline:
            raise ClientError("offline", "network calls are disabled (ENRICH_OFFLINE)")
        allow_private = (
            allow_private_default() if self.allow_private is None else self.allow_private
        )
        manager = self._plain if allow_private else self._guarded

        started = time.monotonic()
        deadline = started + self.timeout * 3
        method, url = spec.method.upper(), spec.url
        headers = _merge_headers(spec.headers, url)
        query = _form_encode(spec.params) if spec.params else ""
        body, content_type = _encode_body(spec.json, spec.data, url)
        for hop in range(MAX_REDIRECTS + 1):
            if hop and time.monotonic() > deadline:
                # Each hop may take its own connect and read timeouts: the whole exchange
                # still has to fit in the deadline.
                host = urlsplit(url).hostname or "?"
                raise TemporaryError("timeout", f"redirects from {host} took too long")
            check_url(url, allow_private=allow_private)
            sent_headers = headers
            if content_type is not None and not _has_header(headers, "content-type"):
                sent_headers = {**headers, "Content-Type": content_type}
            response = self._request(manager, method, _with_query(url, query), sent_headers, body)
            try:
                location = (
                    response.headers.get("Location")
                    if response.status in _REDIRECT_STATUSES
                    else None
                )
                if location is None:
                    content = self._read(response, deadline, url)
                    return HttpResponse(
                        status=response.status,
                        headers=response.headers,
                        body=content,
                        elapsed_ms=(time.monotonic() - started) * 1000,
                    )
                next_url = urljoin(url, location)
            finally:
                _release(response)
            if _origin(next_url) != _origin(url):
                headers = {
                    k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_SAFE_HEADERS
                }
            # The query of the original request (where some providers want the key) is not
            # carried over: the Location is taken as the server wrote it.
            query = ""
            if response.status == 303 or (
                response.status in (301, 302) and method not in ("GET", "HEAD")
            ):
                method, body, content_type = "GET", None, None
            url = next_url
        raise ProviderFailure("malformed_response", f"more than {MAX_REDIRECTS} redirects")

    def _request(
        self,
        manager: PoolManager,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> BaseHTTPResponse:
        try:
            return manager.urlopen(
                method,
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=self._timeout,
                preload_content=False,
                decode_content=True,
            )
        except ProviderError:
            raise  # the peer check inside urllib3
        except NewConnectionError:
            # Before ConnectTimeoutError, of which urllib3 makes it a subclass. Covers DNS.
            raise TemporaryError("network", f"could not connect to {_host(url)}") from None
        except (ConnectTimeoutError, ReadTimeoutError):
            raise TemporaryError(
                "timeout", f"no answer from {_host(url)} within {self.timeout}s"
            ) from None
        except SSLError:
            raise TemporaryError("network", f"TLS handshake with {_host(url)} failed") from None
        except ProtocolError:
            raise TemporaryError("network", f"could not connect to {_host(url)}") from None
        except (LocationValueError, InvalidHeader, ValueError):
            # An unusable URL, a method or header http.client refuses, or (InvalidHeader)
            # conflicting Content-Length values in the answer: requests reported all of these
            # as invalid requests.
            raise ClientError("invalid_request", f"invalid request to {_host(url)}") from None
        except HTTPError:
            raise TemporaryError("network", f"request to {_host(url)} failed") from None

    def _read(self, response: BaseHTTPResponse, deadline: float, url: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ProviderFailure(
                "too_large", f"{_host(url)} announced {declared} bytes (limit {self.max_bytes})"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            # read1 returns what one read of the socket brings (decoded, at most _READ_SIZE
            # bytes), so the deadline is looked at while a server drips its answer; read()
            # would wait for a full chunk.
            while chunk := response.read1(_READ_SIZE, decode_content=True):
                size += len(chunk)
                if size > self.max_bytes:
                    raise ProviderFailure(
                        "too_large", f"{_host(url)} sent more than {self.max_bytes} bytes"
                    )
                if time.monotonic() > deadline:
                    raise TemporaryError("timeout", f"{_host(url)} sent its answer too slowly")
                chunks.append(chunk)
        except ReadTimeoutError:
            raise TemporaryError("timeout", f"{_host(url)} stopped answering") from None
        except (ProtocolError, SSLError):
            raise TemporaryError("network", f"connection to {_host(url)} broke") from None
        except HTTPError:  # DecodeError: a compressed body that does not decompress
            raise TemporaryError(
                "network", f"reading the answer from {_host(url)} failed"
            ) from None
        return b"".join(chunks)


def _release(response: BaseHTTPResponse) -> None:
    """Give the connection back to its pool: as is if the body was read to the end (urllib3
    has then done it already), closed otherwise, since unread bytes would spoil the next
    answer on it."""
    if not response.closed:
        response.close()
    response.release_conn()


def _merge_headers(extra: Mapping[Any, Any], url: str) -> dict[str, str]:
    """The default headers with ``extra`` over them, names compared without case (as requests
    did; a plain dict would send ``Accept`` twice for an ``accept`` override). ``None`` removes
    a header."""
    headers = dict(_DEFAULT_HEADERS)
    if not extra:
        return headers
    names = {name.lower(): name for name in headers}
    for name, value in extra.items():
        name, value = _latin1(name), _latin1(value)
        if not (
            isinstance(name, str)
            and (value is None or isinstance(value, str))
            and _VALID_HEADER_NAME.match(name)
            and (value is None or _VALID_HEADER_VALUE.match(value))
        ):
            raise ClientError("invalid_request", f"invalid header in a request to {_host(url)}")
        previous = names.pop(name.lower(), None)
        if previous is not None:
            del headers[previous]
        if value is not None:
            headers[name] = value
            names[name.lower()] = name
    return headers


def _latin1(value: Any) -> Any:
    # http.client sends str headers as Latin-1, so decoding bytes that way sends them unchanged.
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _has_header(headers: Mapping[str, str], lowered: str) -> bool:
    return any(name.lower() == lowered for name in headers)


def _form_encode(fields: Any) -> str:
    """``application/x-www-form-urlencoded`` as requests wrote it for params and form data:
    strings as they are, lists as repeated keys, ``None`` values left out."""
    if isinstance(fields, str | bytes):
        return fields.decode() if isinstance(fields, bytes) else fields
    pairs: list[tuple[Any, Any]] = []
    for key, values in fields.items() if isinstance(fields, Mapping) else fields:
        if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
            values = [values]
        pairs.extend((key, value) for value in values if value is not None)
    return urlencode(pairs, doseq=True)


def _with_query(url: str, query: str) -> str:
    if not query:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def _encode_body(json_body: Any, data: Any, url: str) -> tuple[bytes | None, str | None]:
    """The body and the Content-Type it implies; as requests, ``data`` wins over ``json``."""
    if not data:
        if json_body is None:
            return None, None
        try:
            encoded = json.dumps(json_body, allow_nan=False)
        except ValueError:  # NaN or infinity, which JSON cannot carry
            raise ClientError(
                "invalid_request", f"the JSON body for {_host(url)} cannot be encoded"
            ) from None
        return encoded.encode(), "application/json"
    if isinstance(data, bytes):
        return data, None
    if isinstance(data, str):
        return data.encode(), None
    return _form_encode(data).encode(), "application/x-www-form-urlencoded"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _origin(url: str) -> tuple[str, str | None, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a bad port or IPv6 literal: no origin, and check_url refuses it
        return "", None, None
