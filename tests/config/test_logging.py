"""The log filter redacts secrets and the formatter writes one JSON object per line."""

import json
import logging

from config.logging import JsonFormatter, RedactSecretsFilter, register_secret


def _format(msg, *args, **extra) -> dict:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(record, k, v)
    RedactSecretsFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    return json.loads(line)


def test_it_redacts_key_value_pairs_in_messages_and_urls():
    out = _format("GET https://api.example/v2/find?domain=x.com&api_key=abc123SECRET&x=1")
    assert "abc123SECRET" not in out["message"]
    assert "domain=x.com" in out["message"]


def test_it_redacts_authorization_headers_passed_as_args():
    out = _format("headers %s", {"Authorization": "Bearer tok-987654321"})
    assert "tok-987654321" not in out["message"]


def test_it_redacts_secret_named_extra_fields_and_nested_mappings():
    out = _format("call", credentials={"api_key": "k-1234567"}, request={"X-API-KEY": "zz-99999"})
    assert out["credentials"] == "[REDACTED]"
    assert out["request"] == {"X-API-KEY": "[REDACTED]"}


def test_it_redacts_registered_literals_anywhere():
    register_secret("sk_live_registered_value")
    out = _format("upstream said: invalid token sk_live_registered_value for account")
    assert "sk_live_registered_value" not in out["message"]
    assert "upstream said" in out["message"]


def test_it_keeps_ordinary_text():
    out = _format("enriched %d rows for %s", 3, "acme.com")
    assert out["message"] == "enriched 3 rows for acme.com"
    assert out["level"] == "INFO"
