"""Defaults fail closed: no debug mode unless asked for, no key derived from the code, JSON
errors from the API with DEBUG off, and a production configuration `check --deploy` accepts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.urls import path
from rest_framework.authtoken.models import Token
from rest_framework.decorators import api_view

ROOT = Path(__file__).resolve().parents[2]
_SECRETS = {"SECRET_KEY", "DEBUG", "FIELD_ENCRYPTION_KEY", "ENV_FILE", "DJANGO_SETTINGS_MODULE"}


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in _SECRETS}
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, "ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(expression: str, **env: str) -> subprocess.CompletedProcess:
    return _run(["-c", f"import config.settings as s; print({expression})"], **env)


def test_debug_is_off_unless_asked_for():
    result = _settings(
        "s.DEBUG", SECRET_KEY="k" * 50, FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_no_mode_derives_the_encryption_key_from_the_code():
    result = _settings("s.FIELD_ENCRYPTION_KEYS", DEBUG="true")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_make_run_writes_a_development_env_once_that_the_settings_read(tmp_path):
    make = ["make", "-s", "-C", str(tmp_path), "-f", str(ROOT / "Makefile"), ".env"]
    subprocess.run(make, check=True, capture_output=True, timeout=60)  # noqa: S603
    written = (tmp_path / ".env").read_text()
    subprocess.run(make, check=True, capture_output=True, timeout=60)  # noqa: S603
    assert (tmp_path / ".env").read_text() == written  # never overwritten: same keys
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0

    result = _settings(
        "s.DEBUG, s.SECRET_KEY != s.DEVELOPMENT_SECRET_KEY, len(s.FIELD_ENCRYPTION_KEYS)",
        ENV_FILE=str(tmp_path / ".env"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "1"]
    # Another machine's file has other keys.
    other = tmp_path / "other"
    other.mkdir()
    subprocess.run([*make[:3], str(other), *make[4:]], check=True, capture_output=True)  # noqa: S603
    assert (other / ".env").read_text() != written


def test_check_deploy_has_no_warnings_with_the_production_settings():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=Fernet.generate_key().decode() * 2,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="leads.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- JSON errors with DEBUG off, for a non-staff token --------------------------------------


@api_view(["POST"])
def _crash(request):
    raise RuntimeError("boom with a secret in a local variable")


urlpatterns = [
    path("api/test/crash", _crash),
    *__import__("config.urls", fromlist=["urlpatterns"]).urlpatterns,
]
handler404 = "config.api.page_not_found"
handler500 = "config.api.server_error"


@pytest.fixture
def charlie_client(charlie, settings):
    settings.DEBUG = False
    client = Client(
        raise_request_exception=False,
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=charlie).key}",
    )
    return client


def _assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "message"}
    return body


@pytest.mark.django_db
def test_a_deeply_nested_body_is_a_json_400(charlie_client):
    response = charlie_client.post(
        "/api/enrichment/emails/verify", "[" * 100_000, content_type="application/json"
    )
    body = _assert_json_error(response, 400)
    assert "DATABASE_URL" not in response.content.decode()
    assert body["error"] == "parse_error"


@pytest.mark.django_db
def test_an_oversized_body_is_a_json_413(charlie_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = charlie_client.post(
        "/api/enrichment/emails/verify",
        '{"email": "' + "a" * 2000 + '@x.example"}',
        content_type="application/json",
    )
    assert _assert_json_error(response, 413)["error"] == "too_large"


@pytest.mark.django_db
def test_an_unknown_api_url_is_a_json_404(charlie_client):
    _assert_json_error(charlie_client.get("/api/enrichment/nothing-here"), 404)


@pytest.mark.django_db
def test_a_crash_is_a_json_500_without_its_details(charlie_client, settings):
    settings.ROOT_URLCONF = __name__
    response = charlie_client.post("/api/test/crash", {}, content_type="application/json")
    assert _assert_json_error(response, 500)["error"] == "server_error"
    assert b"secret" not in response.content
