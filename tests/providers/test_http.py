"""The requests transport against a loopback server."""

from __future__ import annotations

import socket

import pytest
from django.test import override_settings
from werkzeug import Response

from providers import http as http_module
from providers.adapters.base import RequestSpec
from providers.errors import ClientError, ProviderFailure, TemporaryError
from providers.http import RequestsTransport
from providers.netguard import check_url as real_check_url
from tests.providers.conftest import SECRET, TIMEOUT, respond_slowly, settle

pytestmark = pytest.mark.integration


@pytest.fixture
def new_transport():
    """Build transports with other limits than the shared one; all closed afterwards."""
    made: list[RequestsTransport] = []

    def build(**kwargs) -> RequestsTransport:
        made.append(RequestsTransport(**{"timeout": 1, "offline": False, **kwargs}))
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
    transport = RequestsTransport(timeout=1, offline=False)
    with override_settings(ENRICH_ALLOW_PRIVATE_NETWORKS=False), pytest.raises(ClientError):
        transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    with override_settings(ENRICH_ALLOW_PRIVATE_NETWORKS=True):
        assert transport.send(RequestSpec("GET", httpserver.url_for("/x"))).status == 200
    transport.close()


def test_offline_mode_sends_nothing(httpserver):
    httpserver.expect_request("/x").respond_with_data(b"{}")
    transport = RequestsTransport(timeout=1, allow_private=True)
    with override_settings(ENRICH_OFFLINE=True), pytest.raises(ClientError) as caught:
        transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    assert caught.value.code == "offline"
    with pytest.raises(ClientError):
        RequestsTransport(timeout=1, allow_private=True, offline=True).send(
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


def test_the_session_is_reused(httpserver, transport):
    httpserver.expect_request("/x").respond_with_data(b"{}")
    transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    transport.send(RequestSpec("GET", httpserver.url_for("/x")))
    pools = transport._plain_adapter.poolmanager.pools
    assert len(pools) == 1
