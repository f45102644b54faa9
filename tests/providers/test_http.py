"""The HTTP transport against loopback servers."""

from __future__ import annotations

import contextlib
import datetime
import gzip
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import override_settings
from pytest_httpserver import HTTPServer
from urllib3.util.ssl_ import create_urllib3_context
from werkzeug import Response

from providers import http as http_module
from providers.adapters.base import RequestSpec
from providers.errors import ClientError, ProviderFailure, TemporaryError
from providers.http import HttpTransport
from providers.netguard import check_url as real_check_url
from tests.providers.conftest import SECRET, TIMEOUT, respond_slowly, settle

pytestmark = pytest.mark.integration


@pytest.fixture
def new_transport():
    """Build transports with other limits than the shared one; all closed afterwards."""
    made: list[HttpTransport] = []

    def build(**kwargs) -> HttpTransport:
        made.append(HttpTransport(**{"timeout": 1, "offline": False, **kwargs}))
        return made[-1]

    yield build
    for transport in made:
        transport.close()


def test_it_sends_the_request_and_returns_the_answer(httpserver, transport):
    httpserver.expect_request(
        "/find",
        method="POST",
        query_string={"q": "jane"},
        headers={"X-Api-Key": SECRET},
        json={"name": "Jane"},
    ).respond_with_data(b'{"ok": true}', status=201, headers={"X-RateLimit-Remaining": "9"})

    response = transport.send(
        RequestSpec(
            "post",
            httpserver.url_for("/find"),
            params={"q": "jane"},
            headers={"X-Api-Key": SECRET},
            json={"name": "Jane"},
        )
    )
    assert response.status == 201
    assert response.headers["x-ratelimit-remaining"] == "9"
    assert response.json() == {"ok": True}
    assert response.elapsed_ms >= 0
    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"].startswith("leadforge/")


def test_it_sends_form_bodies(httpserver, transport):
    httpserver.expect_request(
        "/token", method="POST", data="grant_type=client_credentials"
    ).respond_with_data(b"{}")
    response = transport.send(
        RequestSpec("POST", httpserver.url_for("/token"), data={"grant_type": "client_credentials"})
    )
    assert response.status == 200


def test_a_slow_server_is_a_timeout_without_the_url_in_the_message(httpserver, transport):
    respond_slowly(httpserver.expect_request("/slow"))
    try:
        with pytest.raises(TemporaryError) as caught:
            transport.send(
                RequestSpec("GET", httpserver.url_for("/slow"), params={"api_key": SECRET})
            )
    finally:
        settle()
    assert caught.value.code == "timeout"
    assert SECRET not in str(caught.value)
    assert f"{TIMEOUT}s" in caught.value.message


def test_a_closed_port_is_a_network_error(new_transport):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = new_transport(allow_private=True)
    with pytest.raises(TemporaryError) as caught:
        transport.send(RequestSpec("GET", f"http://127.0.0.1:{port}/x?api_key={SECRET}"))
    assert caught.value.code == "network"
    assert SECRET not in caught.value.message


def test_an_announced_oversized_body_is_refused(httpserver, new_transport):
    httpserver.expect_request("/big").respond_with_data(b"x" * 2048)
    transport = new_transport(max_bytes=1024, allow_private=True)
    with pytest.raises(ProviderFailure) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/big")))
    assert caught.value.code == "too_large"


def test_a_streamed_oversized_body_is_cut_off(httpserver, new_transport):
    def chunks():
        for _ in range(64):
            yield b"y" * 1024

    httpserver.expect_request("/stream").respond_with_handler(lambda request: Response(chunks()))
    transport = new_transport(max_bytes=4096, allow_private=True)
    with pytest.raises(ProviderFailure) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/stream")))
    assert caught.value.code == "too_large"


def test_private_addresses_are_refused_before_connecting(httpserver, new_transport):
    httpserver.expect_request("/x").respond_with_data(b"{}")
    transport = new_transport(allow_private=False)
    with pytest.raises(ClientError) as caught:
        transport.send(
            RequestSpec("GET", httpserver.url_for("/x").replace("localhost", "127.0.0.1"))
        )
    assert caught.value.code == "blocked_address"
    assert httpserver.log == []


def test_the_connected_address_is_checked_too(httpserver, monkeypatch, new_transport):
    # As if DNS said "public" to the check and "loopback" to the connection (rebinding).
    monkeypatch.setattr(http_module, "check_url", lambda url, allow_private=None: None)
    httpserver.expect_request("/x").respond_with_data(b"{}")
    transport = new_transport(allow_private=False)
    with pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    assert caught.value.code == "blocked_address"
    assert httpserver.log == []


def test_the_setting_allows_private_networks_by_default(httpserver):
    httpserver.expect_request("/x").respond_with_data(b"{}")
    transport = HttpTransport(timeout=1, offline=False)
    with override_settings(ENRICH_ALLOW_PRIVATE_NETWORKS=False), pytest.raises(ClientError):
        transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    with override_settings(ENRICH_ALLOW_PRIVATE_NETWORKS=True):
        assert transport.send(RequestSpec("GET", httpserver.url_for("/x"))).status == 200
    transport.close()


def test_offline_mode_sends_nothing(httpserver):
    httpserver.expect_request("/x").respond_with_data(b"{}")
    transport = HttpTransport(timeout=1, allow_private=True)
    with override_settings(ENRICH_OFFLINE=True), pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    assert caught.value.code == "offline"
    with pytest.raises(ClientError):
        HttpTransport(timeout=1, allow_private=True, offline=True).send(
            RequestSpec("GET", httpserver.url_for("/x"))
        )
    assert httpserver.log == []
    transport.close()


def test_same_origin_redirects_keep_headers(httpserver, transport):
    httpserver.expect_request("/old").respond_with_data(
        b"", status=302, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new", headers={"X-Api-Key": SECRET}).respond_with_data(
        b'{"moved": true}'
    )
    response = transport.send(
        RequestSpec("GET", httpserver.url_for("/old"), headers={"X-Api-Key": SECRET})
    )
    assert response.json() == {"moved": True}


def test_cross_origin_redirects_drop_credentials_and_query(httpserver, transport):
    other_origin = httpserver.url_for("/landing").replace("localhost", "127.0.0.1")
    httpserver.expect_request("/old").respond_with_data(
        b"", status=307, headers={"Location": other_origin}
    )
    httpserver.expect_request("/landing").respond_with_data(b"{}")
    transport.send(
        RequestSpec(
            "GET",
            httpserver.url_for("/old"),
            params={"api_key": SECRET},
            headers={"X-Api-Key": SECRET, "Authorization": f"Bearer {SECRET}"},
        )
    )
    request, _ = httpserver.log[-1]
    assert request.path == "/landing"
    assert "X-Api-Key" not in request.headers and "Authorization" not in request.headers
    assert SECRET not in request.url


def test_every_redirect_hop_is_checked(httpserver, transport, monkeypatch):
    def guarded(url, allow_private=None):
        if "169.254.169.254" in url:
            real_check_url(url, allow_private=False)

    monkeypatch.setattr(http_module, "check_url", guarded)
    httpserver.expect_request("/old").respond_with_data(
        b"", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/old")))
    assert caught.value.code == "blocked_address"


def test_a_303_after_a_post_becomes_a_get(httpserver, transport):
    httpserver.expect_request("/submit", method="POST").respond_with_data(
        b"", status=303, headers={"Location": "/result"}
    )
    httpserver.expect_request("/result", method="GET").respond_with_data(b'{"done": 1}')
    response = transport.send(RequestSpec("POST", httpserver.url_for("/submit"), json={"a": 1}))
    assert response.json() == {"done": 1}


def test_redirect_loops_end(httpserver, transport):
    httpserver.expect_request("/loop").respond_with_data(
        b"", status=302, headers={"Location": "/loop"}
    )
    with pytest.raises(ProviderFailure) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/loop")))
    assert caught.value.code == "malformed_response"
    assert len(httpserver.log) == http_module.MAX_REDIRECTS + 1


def test_slow_redirect_hops_share_one_deadline(httpserver, new_transport):
    # Each hop answers within the 0.2 s timeout, but five of them take longer than 3 x 0.2 s.
    def slow_redirect(request):
        threading.Event().wait(0.15)
        return Response(b"", status=302, headers={"Location": "/hop"})

    httpserver.expect_request("/hop").respond_with_handler(slow_redirect)
    transport = new_transport(timeout=0.2, allow_private=True)

    with pytest.raises(TemporaryError) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/hop")))

    assert caught.value.code == "timeout"
    assert len(httpserver.log) < http_module.MAX_REDIRECTS + 1


def test_params_are_added_to_a_query_the_url_already_has(httpserver, transport):
    httpserver.expect_request("/find").respond_with_data(b"{}")
    transport.send(
        RequestSpec(
            "GET",
            httpserver.url_for("/find") + "?v=2",
            params={"q": "jane doe", "titles[]": ["cto", "ceo"], "skip": None, "n": 3},
        )
    )
    request, _ = httpserver.log[0]
    assert request.query_string == b"v=2&q=jane+doe&titles%5B%5D=cto&titles%5B%5D=ceo&n=3"


def test_form_bodies_repeat_list_keys_and_leave_out_none(httpserver, transport):
    httpserver.expect_request("/token", method="POST").respond_with_data(b"{}")
    transport.send(
        RequestSpec(
            "POST", httpserver.url_for("/token"), data={"scope": ["a", "b"], "x": None, "n": 1}
        )
    )
    request, _ = httpserver.log[0]
    assert request.get_data() == b"scope=a&scope=b&n=1"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


def test_a_string_body_is_sent_as_it_is_without_a_content_type(httpserver, transport):
    httpserver.expect_request("/raw", method="POST").respond_with_data(b"{}")
    transport.send(RequestSpec("POST", httpserver.url_for("/raw"), data="café=1"))
    request, _ = httpserver.log[0]
    assert request.get_data() == "café=1".encode()
    assert "Content-Type" not in request.headers


def test_header_overrides_ignore_case_and_keep_an_explicit_content_type(httpserver, transport):
    httpserver.expect_request("/x", method="POST").respond_with_data(b"{}")
    transport.send(
        RequestSpec(
            "POST",
            httpserver.url_for("/x"),
            headers={"accept": "text/csv", "content-type": "application/vnd.api+json"},
            json={"a": "é"},
        )
    )
    request, _ = httpserver.log[0]
    assert request.headers.getlist("Accept") == ["text/csv"]
    assert request.headers.getlist("Content-Type") == ["application/vnd.api+json"]
    assert request.get_data() == b'{"a": "\\u00e9"}'


def test_a_header_with_a_line_break_is_an_invalid_request(httpserver, transport):
    httpserver.expect_request("/x").respond_with_data(b"{}")
    with pytest.raises(ClientError) as caught:
        transport.send(
            RequestSpec(
                "GET", httpserver.url_for("/x"), headers={"X-Api-Key": f"{SECRET}\r\nX-Evil: 1"}
            )
        )
    assert caught.value.code == "invalid_request"
    assert SECRET not in caught.value.message
    assert httpserver.log == []


def test_a_json_body_json_cannot_carry_is_an_invalid_request(httpserver, transport):
    with pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("POST", httpserver.url_for("/x"), json={"n": float("nan")}))
    assert caught.value.code == "invalid_request"
    assert httpserver.log == []


def test_response_headers_ignore_case_and_join_repeated_ones(httpserver, transport):
    httpserver.expect_request("/x").respond_with_handler(
        lambda request: Response(b"{}", headers=[("X-Seen", "a"), ("x-seen", "b")])
    )
    response = transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    assert response.headers["X-SEEN"] == "a, b"


def test_compressed_answers_are_asked_for_and_decoded(httpserver, transport):
    httpserver.expect_request("/x").respond_with_data(
        gzip.compress(b'{"ok": 1}'), headers={"Content-Encoding": "gzip"}
    )
    response = transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    assert response.json() == {"ok": 1}
    request, _ = httpserver.log[0]
    assert "gzip" in request.headers["Accept-Encoding"]


def test_the_size_limit_applies_to_the_decompressed_body(httpserver, new_transport):
    bomb = gzip.compress(b"0" * (1024 * 1024))
    httpserver.expect_request("/x").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    transport = new_transport(max_bytes=64 * 1024, allow_private=True)
    assert len(bomb) < transport.max_bytes
    with pytest.raises(ProviderFailure) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    assert caught.value.code == "too_large"


def test_a_307_repeats_the_method_and_the_body(httpserver, transport):
    httpserver.expect_request("/old", method="POST").respond_with_data(
        b"", status=307, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new", method="POST", json={"a": 1}).respond_with_data(b"{}")
    transport.send(RequestSpec("POST", httpserver.url_for("/old"), json={"a": 1}))
    request, _ = httpserver.log[-1]
    assert request.path == "/new"
    assert request.headers["Content-Type"] == "application/json"


# --- connections, against a bare socket server ---------------------------------------------


class RawServer:
    """A loopback TCP server that hands each connection to ``handle(conn, server)``."""

    def __init__(self, handle: Callable[[socket.socket, RawServer], None]) -> None:
        self.handle = handle
        self.connections = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/x"
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client hung up
            self.handle(conn, self)

    def close(self) -> None:
        self.stop.set()
        self.acceptor.join()
        self.listener.close()


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket, RawServer], None]) -> RawServer:
        servers.append(RawServer(handle))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    """The request head (the tests send no bodies); empty when the client hung up."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data


def keep_alive(conn: socket.socket, server: RawServer) -> None:
    while read_request(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")


def test_one_connection_serves_consecutive_requests(raw_server, new_transport):
    server = raw_server(keep_alive)
    transport = new_transport(allow_private=True)
    for _ in range(3):
        assert transport.send(RequestSpec("GET", server.url)).json() == {}
    assert server.connections == 1


def test_a_connection_left_with_unread_bytes_is_not_reused(raw_server, new_transport):
    big_sent = threading.Event()

    def big_first(conn: socket.socket, server: RawServer) -> None:
        if not big_sent.is_set():
            big_sent.set()
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n" + b"x" * 4096)
        keep_alive(conn, server)

    server = raw_server(big_first)
    transport = new_transport(max_bytes=1024, allow_private=True)
    with pytest.raises(ProviderFailure):
        transport.send(RequestSpec("GET", server.url))
    # On the first connection this request would read the rest of the refused body.
    assert transport.send(RequestSpec("GET", server.url)).json() == {}
    assert server.connections == 2


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n",
    ],
    ids=["content-length", "chunked"],
)
def test_a_connection_dropped_mid_body_is_a_network_error(raw_server, new_transport, head):
    def drop(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(head + b'{"partial": ')

    server = raw_server(drop)
    transport = new_transport(allow_private=True)
    with pytest.raises(TemporaryError) as caught:
        transport.send(RequestSpec("GET", f"{server.url}?api_key={SECRET}"))
    assert caught.value.code == "network"
    assert SECRET not in caught.value.message


def test_a_pause_in_the_middle_of_the_body_is_a_timeout(raw_server, new_transport):
    def pause(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"partial": ')
        server.stop.wait(5)

    server = raw_server(pause)
    transport = new_transport(timeout=0.2, allow_private=True)
    with pytest.raises(TemporaryError) as caught:
        transport.send(RequestSpec("GET", server.url))
    assert caught.value.code == "timeout"
    assert "stopped answering" in caught.value.message


def test_a_server_dripping_its_answer_hits_the_overall_deadline(raw_server, new_transport):
    def drip(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        # Each byte comes well within the read timeout; the whole would take 10 s.
        while not server.stop.wait(0.01):
            conn.sendall(b" ")

    server = raw_server(drip)
    transport = new_transport(timeout=0.2, allow_private=True)
    started = time.monotonic()
    with pytest.raises(TemporaryError) as caught:
        transport.send(RequestSpec("GET", server.url))
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 2  # the deadline is 0.6 s


def test_conflicting_content_lengths_are_refused(raw_server, new_transport):
    # requests reported urllib3's InvalidHeader as an invalid request; the mapping is kept.
    def conflicting(conn: socket.socket, server: RawServer) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}")

    server = raw_server(conflicting)
    transport = new_transport(allow_private=True)
    with pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("GET", server.url))
    assert caught.value.code == "invalid_request"


# --- HTTPS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate() -> tuple[bytes, bytes]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key, in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def https_server(certificate, tmp_path):
    cert_pem, key_pem = certificate
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture
def trust_test_certificate(certificate, monkeypatch):
    context = create_urllib3_context()
    context.load_verify_locations(cadata=certificate[0].decode())
    monkeypatch.setattr(http_module, "_tls_context", lambda: context)


def test_an_untrusted_certificate_is_a_network_error(https_server, new_transport):
    https_server.expect_request("/x").respond_with_data(b"{}")
    transport = new_transport(allow_private=True)
    with pytest.raises(TemporaryError) as caught:
        transport.send(RequestSpec("GET", https_server.url_for("/x")))
    assert caught.value.code == "network"
    assert "TLS" in caught.value.message
    assert https_server.log == []


@pytest.mark.usefixtures("trust_test_certificate")
def test_https_answers_arrive_over_a_verified_connection(https_server, new_transport):
    https_server.expect_request("/x").respond_with_data(b'{"secure": true}')
    transport = new_transport(allow_private=True)
    assert transport.send(RequestSpec("GET", https_server.url_for("/x"))).json() == {"secure": True}


@pytest.mark.usefixtures("trust_test_certificate")
def test_the_connected_address_is_checked_over_https_too(https_server, monkeypatch, new_transport):
    monkeypatch.setattr(http_module, "check_url", lambda url, allow_private=None: None)
    https_server.expect_request("/x").respond_with_data(b"{}")
    transport = new_transport(allow_private=False)
    with pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("GET", https_server.url_for("/x")))
    assert caught.value.code == "blocked_address"
    assert https_server.log == []
