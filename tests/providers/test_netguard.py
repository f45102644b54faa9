"""The SSRF guard. IP literals only: these tests need no DNS."""

from __future__ import annotations

import socket

import pytest
from django.test import override_settings

from providers.errors import ClientError, TemporaryError
from providers.netguard import check_ip, check_url, is_public_ip, resolve

REFUSED = [
    "http://127.0.0.1/",
    "http://127.8.9.10:8080/x",
    "http://[::1]/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/",  # carrier-grade NAT, not global
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[::ffff:10.0.0.1]/",
    "http://[fe80::1]/",  # link-local
    "http://[fc00::1]/",  # unique local
    "http://[fec0::1]/",  # deprecated site-local
    "http://[ff02::1]/",  # multicast
    "http://[64:ff9b::7f00:1]/",  # NAT64 to 127.0.0.1
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[2001:db8::1]/",  # documentation range
]


@pytest.mark.parametrize("url", REFUSED)
def test_it_refuses_non_public_addresses(url):
    with pytest.raises(ClientError) as caught:
        check_url(url, allow_private=False)
    assert caught.value.code == "blocked_address"


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34/", "http://8.8.8.8:8080/path?q=1", "https://[2606:4700:4700::1111]/"],
)
def test_it_allows_public_addresses(url):
    check_url(url, allow_private=False)


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000/", "http://[::1]/", "http://10.1.2.3/"])
def test_private_addresses_pass_when_allowed(url):
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.216.34/", "file:///etc/passwd", "gopher://8.8.8.8/", "javascript:alert(1)"],
)
def test_only_http_and_https_are_allowed_even_when_private_is(url):
    with pytest.raises(ClientError) as caught:
        check_url(url, allow_private=True)
    assert caught.value.code == "blocked_address"


@pytest.mark.parametrize("url", ["http:///nohost", "http://[::1/", "http://host:99999/"])
def test_broken_urls_are_refused(url):
    with pytest.raises(ClientError):
        check_url(url, allow_private=False)


def test_the_setting_decides_by_default():
    with override_settings(ENRICH_ALLOW_PRIVATE_NETWORKS=False), pytest.raises(ClientError):
        check_url("http://127.0.0.1/")
    with override_settings(ENRICH_ALLOW_PRIVATE_NETWORKS=True):
        check_url("http://127.0.0.1/")


def test_every_resolved_address_must_be_public(monkeypatch):
    # A name with one public and one private address is refused: the client might use either.
    def fake_getaddrinfo(host, port, proto=0):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(ClientError) as caught:
        check_url("https://mixed.example.com/", allow_private=False)
    assert "mixed.example.com resolves to 10.0.0.7" in caught.value.message


def test_an_unresolvable_host_is_a_temporary_network_error(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(TemporaryError) as caught:
        check_url("https://nowhere.example.com/", allow_private=False)
    assert caught.value.code == "network"


def test_ip_literals_resolve_without_dns(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("DNS used"))
    assert resolve("[::1]", 80) == ["::1"]
    assert resolve("8.8.8.8", 80) == ["8.8.8.8"]


def test_zone_ids_are_ignored_when_checking():
    with pytest.raises(ClientError):
        check_ip("fe80::1%eth0")
    assert is_public_ip("not an ip") is False
