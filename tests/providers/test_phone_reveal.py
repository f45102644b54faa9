"""Apollo phone reveals: the payload reader, the webhook view, the store, expiry and the admin.

The adapter's side (what it sends Apollo) is in test_adapters_apollo.py; here the webhook is
driven through Django's test client and the store through the real database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from werkzeug import Response

from providers import reveals, signals
from providers.adapters.apollo import WEBHOOK_PATH, ApolloAdapter
from providers.client import ProviderClient
from providers.errors import AuthenticationError, ClientError, TemporaryError
from providers.models import PhoneReveal, PhoneRevealStatus
from providers.tasks import expire_phone_reveals
from providers.webhooks import MAX_BODY_BYTES, phones_from_webhook
from tests.factories import ProviderFactory
from tests.providers.conftest import SECRET, fixture_bytes

PERSON_ID = "64a7ff0cc4dfae00013df1a5"
WEBHOOK_BASE = "https://leads.example.com"
MOBILE = "+14155550100"
DIRECT = "+14155550111"
# Apollo's phone webhook as we read it (the people[] form; see providers/webhooks.py).
PAYLOAD = {
    "people": [
        {
            "id": PERSON_ID,
            "phone_numbers": [
                # Marked invalid by Apollo: left out, though it comes first.
                {
                    "raw_number": "+1 415-555-0199",
                    "sanitized_number": "+14155550199",
                    "type_cd": "mobile",
                    "status_cd": "invalid_number",
                    "position": 0,
                },
                {
                    "raw_number": "(415) 555-0111",
                    "sanitized_number": DIRECT,
                    "type_cd": "work_direct",
                    "status_cd": "valid_number",
                    "position": 2,
                },
                {
                    "raw_number": "+1 415-555-0100",
                    "sanitized_number": MOBILE,
                    "type_cd": "mobile",
                    "status_cd": "no_status",
                    "position": 1,
                },
            ],
        }
    ]
}
EXPECTED_FIELDS = {
    "mobile_phone": {"value": MOBILE, "confidence": 80, "type": "mobile", "status": "no_status"},
    "phone": {"value": DIRECT, "confidence": 80, "type": "work_direct", "status": "valid_number"},
}


# --- reading the payload (no database) ----------------------------------------------------------


def test_it_reads_the_people_form():
    delivery = phones_from_webhook(PAYLOAD, person_id=PERSON_ID)
    assert delivery is not None
    assert delivery.fields == EXPECTED_FIELDS
    assert delivery.credits == 8  # a mobile came back


def test_it_reads_a_single_person_with_contact_numbers_written_by_hand():
    payload = {
        "person": {
            "id": PERSON_ID,
            "contact": {
                "phone_numbers": [
                    {"raw_number": "+1 (415) 555-2671", "type": "mobile", "status": "valid_number"}
                ]
            },
        }
    }
    delivery = phones_from_webhook(payload, person_id=PERSON_ID)
    assert delivery.fields == {
        "mobile_phone": {
            "value": "+14155552671",
            "confidence": 90,
            "type": "mobile",
            "status": "valid_number",
        }
    }


def test_a_headquarters_line_is_a_phone_trusted_less_and_costs_no_mobile_credits():
    payload = {
        "data": {
            "people": [
                {
                    "id": PERSON_ID,
                    "phone_numbers": [{"sanitized_number": "+12025550199", "type_cd": "work_hq"}],
                }
            ]
        }
    }
    delivery = phones_from_webhook(payload, person_id=PERSON_ID)
    assert delivery.fields == {
        "phone": {"value": "+12025550199", "confidence": 45, "type": "work_hq", "status": None}
    }
    assert delivery.credits == 0


def test_a_number_without_its_country_is_kept_as_written_and_trusted_less():
    payload = {"people": [{"id": PERSON_ID, "phone_numbers": [{"raw_number": "4155552671"}]}]}
    delivery = phones_from_webhook(payload, person_id=PERSON_ID)
    assert delivery.fields["phone"]["value"] == "4155552671"
    assert delivery.fields["phone"]["confidence"] == 30


def test_no_numbers_is_an_empty_delivery():
    delivery = phones_from_webhook(
        {"people": [{"id": PERSON_ID, "phone_numbers": []}]}, person_id=PERSON_ID
    )
    assert delivery.fields == {}
    assert delivery.credits == 0


def test_a_payload_about_someone_else_is_not_read():
    other = {"people": [{"id": "someone-else", "phone_numbers": [{"sanitized_number": MOBILE}]}]}
    assert phones_from_webhook(other, person_id=PERSON_ID) is None
    two_unnamed = {"people": [{"phone_numbers": []}, {"phone_numbers": []}]}
    assert phones_from_webhook(two_unnamed, person_id=None) is None
    # Before Apollo's answer names the person, a payload about one person is that person.
    assert phones_from_webhook(other, person_id=None).fields["phone"]["value"] == MOBILE


def test_the_adapter_and_the_url_conf_agree_on_the_webhook_path():
    assert reverse("apollo-phone-webhook", args=["tok"]) == f"/{WEBHOOK_PATH}tok"


# --- the webhook ----------------------------------------------------------------------------------


@pytest.fixture
def apollo(db):
    provider = ProviderFactory(
        slug="apollo", adapter="apollo", config={"webhook_base_url": WEBHOOK_BASE}
    )
    provider.set_credentials({"api_key": SECRET})
    provider.save()
    return provider


def open_reveal(provider, person_id: str | None = PERSON_ID) -> tuple[str, PhoneReveal]:
    token = secrets.token_urlsafe(32)
    adapter = ApolloAdapter(
        base_url=provider.base_url or None,
        credentials=provider.get_credentials(),
        config=provider.config,
        provider_id=provider.pk,
    )
    reveal_id = reveals.phone_reveal_open(adapter=adapter, token=token)
    reveals.phone_reveal_attach(reveal_id=reveal_id, person_id=person_id, request_id="42")
    return token, PhoneReveal.objects.get(pk=reveal_id)


def post(client, token: str, payload):
    data = payload if isinstance(payload, bytes) else json.dumps(payload)
    return client.post(
        reverse("apollo-phone-webhook", args=[token]), data=data, content_type="application/json"
    )


@pytest.fixture
def announced():
    calls = []

    def receiver(sender, reveal, fields, **kwargs):
        calls.append((sender, reveal.pk, fields))

    signals.phone_revealed.connect(receiver)
    yield calls
    signals.phone_revealed.disconnect(receiver)


def test_it_stores_the_numbers_and_announces_them_once(
    client, apollo, announced, django_capture_on_commit_callbacks
):
    token, reveal = open_reveal(apollo)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, token, PAYLOAD)

    assert response.status_code == 200
    assert response.json() == {
        "status": "received",
        "duplicate": False,
        "found": ["mobile_phone", "phone"],
    }
    reveal.refresh_from_db()
    assert reveal.status == PhoneRevealStatus.RECEIVED
    assert reveal.received_at is not None
    assert reveal.phone_fields == EXPECTED_FIELDS
    assert reveal.raw_payload == PAYLOAD
    assert reveal.cost == Decimal("0.2000")  # 8 credits at Apollo's list price
    assert announced == [(PhoneReveal, reveal.pk, EXPECTED_FIELDS)]


def test_a_repeated_delivery_changes_nothing(
    client, apollo, announced, django_capture_on_commit_callbacks
):
    token, reveal = open_reveal(apollo)
    with django_capture_on_commit_callbacks(execute=True):
        post(client, token, PAYLOAD)
    reveal.refresh_from_db()
    first_received_at = reveal.received_at

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = post(client, token, PAYLOAD)

    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert callbacks == []
    assert len(announced) == 1
    assert PhoneReveal.objects.count() == 1
    reveal.refresh_from_db()
    assert reveal.received_at == first_received_at


def test_other_numbers_for_a_received_reveal_are_a_conflict(client, apollo):
    token, reveal = open_reveal(apollo)
    post(client, token, PAYLOAD)
    other = {
        "people": [{"id": PERSON_ID, "phone_numbers": [{"sanitized_number": "+447911123456"}]}]
    }

    response = post(client, token, other)

    assert response.status_code == 409
    assert response.json()["error"] == "already_received"
    reveal.refresh_from_db()
    assert reveal.phone_fields == EXPECTED_FIELDS


@pytest.mark.parametrize("token", ["x", secrets.token_urlsafe(32)], ids=["short", "random"])
def test_an_unknown_token_is_not_found(client, apollo, token):
    open_reveal(apollo)
    response = post(client, token, PAYLOAD)
    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "message": "No phone reveal is waiting at this address.",
    }


@pytest.mark.parametrize("body", [b'{"people": [', b'"a string"', b"\xff\xfe"])
def test_a_body_that_is_not_a_json_object_is_refused_and_changes_nothing(client, apollo, body):
    token, reveal = open_reveal(apollo)
    response = post(client, token, body)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_json"
    reveal.refresh_from_db()
    assert reveal.status == PhoneRevealStatus.PENDING
    assert reveal.raw_payload is None


def test_an_oversized_body_is_refused(client, apollo):
    token, reveal = open_reveal(apollo)
    body = json.dumps({"people": [], "padding": "x" * MAX_BODY_BYTES}).encode()
    response = post(client, token, body)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    reveal.refresh_from_db()
    assert reveal.status == PhoneRevealStatus.PENDING


def test_a_payload_about_someone_else_is_refused(client, apollo):
    token, reveal = open_reveal(apollo)
    other = {"people": [{"id": "someone-else", "phone_numbers": [{"sanitized_number": MOBILE}]}]}
    response = post(client, token, other)
    assert response.status_code == 422
    assert response.json()["error"] == "wrong_person"
    reveal.refresh_from_db()
    assert reveal.status == PhoneRevealStatus.PENDING


def test_only_post_is_allowed(client, apollo):
    token, _ = open_reveal(apollo)
    response = client.get(reverse("apollo-phone-webhook", args=[token]))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"


def test_neither_the_token_nor_a_number_reaches_the_logs(client, apollo, caplog):
    caplog.set_level(logging.DEBUG)
    token, _ = open_reveal(apollo)
    post(client, token, PAYLOAD)  # 200
    post(client, token, {"people": [{"id": PERSON_ID, "phone_numbers": ["+447911123456"]}]})  # 409
    post(client, token, b"{")  # 400: already received, but the JSON is checked first
    unknown = secrets.token_urlsafe(32)
    post(client, unknown, PAYLOAD)  # 404

    logged = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert "phone reveal received" in caplog.text  # the deliveries were logged...
    for secret in (token, unknown, "4155550100", "4155550111", "7911123456"):
        assert secret not in logged  # ...without a token or a number


@pytest.mark.parametrize("marked", [True, False], ids=["marked-expired", "beat-not-run-yet"])
def test_a_delivery_for_an_expired_reveal_is_refused(client, apollo, marked):
    token, reveal = open_reveal(apollo)
    PhoneReveal.objects.filter(pk=reveal.pk).update(
        requested_at=timezone.now() - timedelta(days=30),
        status=PhoneRevealStatus.EXPIRED if marked else PhoneRevealStatus.PENDING,
    )
    response = post(client, token, PAYLOAD)
    assert response.status_code == 410
    assert response.json()["error"] == "expired"
    reveal.refresh_from_db()
    assert reveal.status != PhoneRevealStatus.RECEIVED
    assert reveal.phone_fields in ({}, None) and reveal.raw_payload in ({}, None)


def test_a_delivery_before_apollos_answer_is_taken_for_the_one_person_it_names(client, apollo):
    token, reveal = open_reveal(apollo, person_id=None)
    response = post(client, token, PAYLOAD)
    assert response.status_code == 200
    reveal.refresh_from_db()
    assert reveal.phone_fields["mobile_phone"]["value"] == MOBILE


# --- the whole loop: adapter → pending record → webhook ---------------------------------------------


@pytest.mark.integration
def test_a_reveal_goes_from_the_provider_client_to_the_webhook(
    httpserver, client, apollo, announced, django_capture_on_commit_callbacks
):
    apollo.base_url = httpserver.url_for("/api/v1")
    apollo.save()
    httpserver.expect_request("/api/v1/people/match").respond_with_data(
        fixture_bytes("apollo", "people_match.json"), content_type="application/json"
    )
    # The client builds the adapter from the row and tells it which row it speaks for. The
    # response cache outlives the test database: an earlier run's answer must not be reused.
    result = ProviderClient(apollo).call("find_phone", {"email": "tim@apollo.io"}, use_cache=False)

    (request, _), *_ = httpserver.log
    token = request.args["webhook_url"].rsplit("/", 1)[1]
    reveal = PhoneReveal.objects.get()
    assert result.extra["phone_reveal"]["id"] == reveal.pk
    assert reveal.provider == apollo
    assert reveal.person_id == PERSON_ID
    assert reveal.status == PhoneRevealStatus.PENDING
    assert reveal.token_hash == hashlib.sha256(token.encode()).hexdigest()
    stored = json.dumps(list(PhoneReveal.objects.values().get().values()), default=str)
    assert token not in stored  # only its hash is kept

    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, token, PAYLOAD).status_code == 200
    reveal.refresh_from_db()
    assert reveal.phone_fields["mobile_phone"]["value"] == MOBILE
    assert announced == [(PhoneReveal, reveal.pk, EXPECTED_FIELDS)]


# --- the store ----------------------------------------------------------------------------------------


def test_the_reveal_belongs_to_the_provider_the_adapter_was_built_from(apollo):
    # Two rows alike in everything but their key: only the id tells them apart.
    team_b = ProviderFactory(slug="apollo-team-b", adapter="apollo", config=dict(apollo.config))
    team_b.set_credentials({"api_key": "sk_live_TEAM_B_KEY"})
    team_b.save()

    assert open_reveal(team_b)[1].provider == team_b
    assert open_reveal(apollo)[1].provider == apollo


def test_a_reveal_needs_a_stored_provider(apollo):
    adapter = ApolloAdapter(
        credentials={"api_key": SECRET}, config={"webhook_base_url": "https://x.example"}
    )
    with pytest.raises(ClientError) as caught:
        reveals.phone_reveal_open(adapter=adapter, token=secrets.token_urlsafe(32))
    assert caught.value.code == "invalid_request"
    assert PhoneReveal.objects.count() == 0


def test_discarding_forgets_a_pending_reveal_only(apollo, client):
    pending_token, pending = open_reveal(apollo)
    received_token, received = open_reveal(apollo)
    post(client, received_token, PAYLOAD)

    reveals.phone_reveal_discard(reveal_id=pending.pk)
    reveals.phone_reveal_discard(reveal_id=received.pk)

    assert list(PhoneReveal.objects.values_list("pk", flat=True)) == [received.pk]
    assert post(client, pending_token, PAYLOAD).status_code == 404


# --- expiry ---------------------------------------------------------------------------------------


def test_the_expiry_task_gives_up_on_reveals_pending_too_long(apollo, client):
    now = timezone.now()
    _, old = open_reveal(apollo)
    _, recent = open_reveal(apollo)
    received_token, old_received = open_reveal(apollo)
    post(client, received_token, PAYLOAD)
    PhoneReveal.objects.filter(pk__in=[old.pk, old_received.pk]).update(
        requested_at=now - timedelta(hours=25)
    )
    PhoneReveal.objects.filter(pk=recent.pk).update(requested_at=now - timedelta(hours=23))

    assert expire_phone_reveals() == {"expired": 1}
    assert expire_phone_reveals() == {"expired": 0}  # running twice is harmless

    statuses = dict(PhoneReveal.objects.values_list("pk", "status"))
    assert statuses == {
        old.pk: PhoneRevealStatus.EXPIRED,
        recent.pk: PhoneRevealStatus.PENDING,
        old_received.pk: PhoneRevealStatus.RECEIVED,
    }
    assert expire_phone_reveals(max_age_hours=1) == {"expired": 1}


# --- admin --------------------------------------------------------------------------------------


def test_the_admin_lists_reveals_and_changes_none(alice_client, apollo):
    _, reveal = open_reveal(apollo)
    changelist = alice_client.get("/admin/providers/phonereveal/")
    assert changelist.status_code == 200
    assert PERSON_ID in changelist.content.decode()
    assert alice_client.get("/admin/providers/phonereveal/add/").status_code == 403
    change = alice_client.post(
        f"/admin/providers/phonereveal/{reveal.pk}/change/", {"status": "received"}
    )
    assert change.status_code == 403
    reveal.refresh_from_db()
    assert reveal.status == PhoneRevealStatus.PENDING


# --- a reveal is sent once ------------------------------------------------------------------


@pytest.mark.integration
def test_a_reveal_whose_answer_was_lost_is_not_sent_again(httpserver, apollo):
    # Apollo may have taken a request whose answer timed out: a retry would reveal (and bill)
    # the phone twice, so the client gives up on it and the reveal waits for its webhook.
    apollo.base_url = httpserver.url_for("/api/v1")
    apollo.timeout_seconds = Decimal("0.3")
    apollo.save()
    received = []
    answered = threading.Event()

    def slow(request):
        received.append(request.path)
        answered.wait(2.0)  # held until the client has given up, then freed for other tests
        return Response(fixture_bytes("apollo", "people_match.json"), 200)

    httpserver.expect_request("/api/v1/people/match").respond_with_handler(slow)

    try:
        with pytest.raises(TemporaryError) as caught:
            ProviderClient(apollo).call("find_phone", {"email": "tim@apollo.io"}, use_cache=False)
    finally:
        answered.set()

    assert caught.value.code == "timeout"
    assert received == ["/api/v1/people/match"]
    (reveal,) = PhoneReveal.objects.all()
    assert reveal.status == PhoneRevealStatus.PENDING


@pytest.mark.integration
def test_a_reveal_refused_before_sending_leaves_no_pending_record(httpserver, apollo):
    apollo.base_url = httpserver.url_for("/api/v1")
    apollo.set_credentials({})  # no key: refused before any request
    apollo.save()

    with pytest.raises(AuthenticationError):
        ProviderClient(apollo).call("find_phone", {"email": "tim@apollo.io"}, use_cache=False)

    assert httpserver.log == []
    assert not PhoneReveal.objects.exists()
