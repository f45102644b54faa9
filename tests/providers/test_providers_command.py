"""`manage.py providers list | export | import | test`."""

import json

import pytest
from django.core.management import CommandError, call_command

from providers.models import Provider
from tests.factories import ProviderFactory

pytestmark = pytest.mark.django_db
SECRET = "pdl-secret-key-0123456789"


def _run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("providers", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_export_then_import_round_trips_without_secrets(tmp_path):
    provider = ProviderFactory(
        slug="pdl", adapter="pdl", rate_limit_per_minute=100, config={"min_likelihood": 6}
    )
    provider.set_credentials({"api_key": SECRET})
    provider.save()
    path = tmp_path / "providers.json"
    _run("export", str(path))
    text = path.read_text()
    assert SECRET not in text and provider.credentials_encrypted not in text
    exported = json.loads(text)["providers"][0]
    assert exported["credential_names"] == ["api_key"]

    Provider.objects.all().delete()
    assert "1 created, 0 updated" in _run("import", str(path))
    restored = Provider.objects.get(slug="pdl")
    assert restored.rate_limit_per_minute == 100
    assert restored.config == {"min_likelihood": 6}
    assert not restored.has_credentials
    assert "0 created, 1 updated" in _run("import", str(path))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"providers": [{"slug": "x", "adapter": "nope"}]}, "unknown adapter"),
        (
            {"providers": [{"slug": "x", "adapter": "hunter", "credentials": {"api_key": "k"}}]},
            "credentials cannot be imported",
        ),
        ({"providers": [{"slug": "x", "adapter": "hunter", "concurrency": "many"}]}, "wrong type"),
        (
            {"providers": [{"slug": "x", "adapter": "generic", "config": {"operations": 3}}]},
            "provider 'x'",
        ),
        ({"nope": []}, "'providers' list"),
    ],
)
def test_a_bad_import_changes_nothing(tmp_path, payload, message):
    ProviderFactory(slug="keep", adapter="hunter")
    payload.setdefault("providers", payload.get("providers"))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(CommandError, match=message):
        _run("import", str(path))
    assert list(Provider.objects.values_list("slug", flat=True)) == ["keep"]


def test_import_rejects_invalid_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{oops")
    with pytest.raises(CommandError, match="not valid JSON"):
        _run("import", str(path))


def test_list_shows_limits_and_health():
    ProviderFactory(slug="hunter", adapter="hunter", rate_limit_per_minute=500)
    out = _run("list")
    assert "hunter" in out and "500" in out and "closed" in out
    rows = json.loads(_run("list", "--json"))
    assert rows[0]["health"]["calls"] == 0


def test_test_makes_one_call_and_prints_mapped_fields():
    ProviderFactory(slug="sandbox", adapter="sandbox")
    out = _run("test", "sandbox")
    assert out.startswith("sandbox (sandbox) find_email: found in ")
    assert "email" in out


def test_test_of_an_unknown_provider_fails_clearly():
    with pytest.raises(CommandError, match="no provider 'ghost'"):
        _run("test", "ghost")
