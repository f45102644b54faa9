"""The production :class:`~providers.adapters.base.Transport`: requests, guarded and bounded.

One ``requests.Session`` per transport reuses connections (TLS handshakes dominate the cost of
small provider calls). Every request, and every redirect hop, goes through the SSRF guard in
:mod:`providers.netguard`; the socket's actual peer address is checked again after connecting so
a DNS answer that changes between check and connect cannot reach a private address. Bodies are
streamed and cut off at ``max_bytes``. Nothing in an exception message comes from the request
URL's query string or headers, where credentials live.

A session is not meant to be shared between threads: give each worker thread its own transport.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError

from providers.adapters.base import HttpResponse, RequestSpec
from providers.errors import ClientError, ProviderError, ProviderFailure, TemporaryError
from providers.netguard import allow_private_default, check_ip, check_url

USER_AGENT = "leadforge/0.1 (self-hosted lead enrichment)"
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers that may follow a redirect to another origin; the rest may carry credentials.
_CROSS_ORIGIN_SAFE_HEADERS = frozenset({"accept", "accept-language", "user-agent"})


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


class _PeerCheckedAdapter(HTTPAdapter):
    """Direct connections verify the connected address; proxied ones are the proxy's business."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PeerCheckedHTTPPool,
            "https": _PeerCheckedHTTPSPool,
        }


class RequestsTransport:
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
        self.session = requests.Session()
        # Proxies from the environment would bypass the peer check; an operator who needs one
        # configures it explicitly on the session.
        self.session.trust_env = False
        self._guarded_adapter = _PeerCheckedAdapter()
        self._plain_adapter = HTTPAdapter()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RequestsTransport:
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
        adapter = self._plain_adapter if allow_private else self._guarded_adapter
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

        started = time.monotonic()
        deadline = started + self.timeout * 3
        method, url = spec.method.upper(), spec.url
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **spec.headers}
        params, json_body, data = spec.params or None, spec.json, spec.data
        for _hop in range(MAX_REDIRECTS + 1):
            check_url(url, allow_private=allow_private)
            response = self._request(method, url, headers, params, json_body, data)
            try:
                if (
                    response.status_code not in _REDIRECT_STATUSES
                    or "Location" not in response.headers
                ):
                    body = self._read(response, deadline, url)
                    return HttpResponse(
                        status=response.status_code,
                        headers=response.headers,
                        body=body,
                        elapsed_ms=(time.monotonic() - started) * 1000,
                    )
                next_url = urljoin(url, response.headers["Location"])
            finally:
                response.close()
            if _origin(next_url) != _origin(url):
                headers = {
                    k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_SAFE_HEADERS
                }
            # The query of the original request (where some providers want the key) is not
            # carried over: the Location is taken as the server wrote it.
            params = None
            if response.status_code == 303 or (
                response.status_code in (301, 302) and method not in ("GET", "HEAD")
            ):
                method, json_body, data = "GET", None, None
            url = next_url
        raise ProviderFailure("malformed_response", f"more than {MAX_REDIRECTS} redirects")

    def _request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        params: Any,
        json_body: Any,
        data: Any,
    ) -> requests.Response:
        host = urlsplit(url).hostname or "?"
        try:
            return self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                json=json_body,
                data=data,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
        except ProviderError:
            raise  # the peer check inside urllib3
        except requests.exceptions.Timeout:
            raise TemporaryError(
                "timeout", f"no answer from {host} within {self.timeout}s"
            ) from None
        except requests.exceptions.SSLError:
            raise TemporaryError("network", f"TLS handshake with {host} failed") from None
        except requests.exceptions.ConnectionError:
            raise TemporaryError("network", f"could not connect to {host}") from None
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidSchema,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidHeader,
        ):
            raise ClientError("invalid_request", f"invalid request to {host}") from None
        except requests.exceptions.RequestException:
            raise TemporaryError("network", f"request to {host} failed") from None

    def _read(self, response: requests.Response, deadline: float, url: str) -> bytes:
        host = urlsplit(url).hostname or "?"
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise ProviderFailure(
                "too_large", f"{host} announced {declared} bytes (limit {self.max_bytes})"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > self.max_bytes:
                    raise ProviderFailure(
                        "too_large", f"{host} sent more than {self.max_bytes} bytes"
                    )
                if time.monotonic() > deadline:
                    raise TemporaryError("timeout", f"{host} sent its answer too slowly")
                chunks.append(chunk)
        except ProviderError:
            raise
        except requests.exceptions.ConnectionError as exc:
            # requests reports a read timeout during streaming as a ConnectionError.
            if exc.args and isinstance(exc.args[0], ReadTimeoutError):
                raise TemporaryError("timeout", f"{host} stopped answering") from None
            raise TemporaryError("network", f"connection to {host} broke") from None
        except requests.exceptions.RequestException:
            raise TemporaryError("network", f"reading the answer from {host} failed") from None
        return b"".join(chunks)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.hostname, parts.port
