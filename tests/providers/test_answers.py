"""Answers kept in the database: reuse, expiry, single flight's hand-overs, erasure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from providers import answers
from providers.adapters.base import FieldValue, ProviderResult
from providers.errors import TemporaryError
from providers.models import AnswerStatus, ProviderAnswer
from tests.providers import _client_support as support

pytestmark = pytest.mark.django_db

TTL = timedelta(days=30)
QUESTION = {"first_name": "Ada", "last_name": "Lovelace", "domain": "acme.example"}


def found(email="ada@acme.example"):
    return ProviderResult(
        found=True, fields={"email": FieldValue(email, 91)}, raw={"e": email}, cost=Decimal("0.04")
    )


class Asker:
    def __init__(self, *results):
        self.results = list(results)
        self.calls = 0

    def __call__(self, renew):
        renew()
        self.calls += 1
        outcome = self.results.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


@pytest.fixture
def provider():
    return support.make_provider("http://127.0.0.1:9")


def ask(provider, compute, *, fingerprint="f" * 64, use_cache=True, ttl=TTL, wait=1.0):
    return answers.get_or_call(
        provider,
        "find_email",
        fingerprint,
        compute,
        ttl=ttl,
        subjects=answers.subject_keys(QUESTION),
        lease=60,
        wait_timeout=wait,
        use_cache=use_cache,
    )


def test_an_answer_is_stored_and_reused(provider):
    asker = Asker(found())

    first = ask(provider, asker)
    again = ask(provider, asker)

    assert (first.stored, again.stored) == (False, True)
    assert again.result == first.result
    assert asker.calls == 1
    row = ProviderAnswer.objects.get()
    assert (row.status, row.cost) == (AnswerStatus.ANSWERED, Decimal("0.0400"))
    assert row.expires_at > timezone.now() + timedelta(days=29)


def test_an_expired_answer_is_asked_again(provider):
    asker = Asker(found(), found("a.lovelace@acme.example"))
    ask(provider, asker)
    ProviderAnswer.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert ask(provider, asker).result.value("email") == "a.lovelace@acme.example"
    assert asker.calls == 2
    assert ProviderAnswer.objects.count() == 1


def test_a_failed_ask_stores_nothing_and_the_next_caller_asks(provider):
    asker = Asker(TemporaryError("server_error"), found())
    with pytest.raises(TemporaryError):
        ask(provider, asker)
    assert not ProviderAnswer.objects.exists()

    assert ask(provider, asker).result.found


def test_a_failed_refresh_keeps_the_answer_it_was_refreshing(provider):
    asker = Asker(found(), TemporaryError("timeout"))
    ask(provider, asker)

    with pytest.raises(TemporaryError):
        ask(provider, asker, use_cache=False)

    assert ask(provider, asker).stored


def test_callers_wait_for_a_question_being_asked_then_give_up(provider):
    ProviderAnswer.objects.create(
        provider=provider,
        operation="find_email",
        input_fingerprint="f" * 64,
        lease_token="other",
        lease_until=timezone.now() + timedelta(minutes=1),
    )

    with pytest.raises(TemporaryError) as excinfo:
        ask(provider, Asker(found()), wait=0.05)

    assert excinfo.value.code == "answer_pending"


def test_the_question_of_a_killed_asker_is_taken_over_when_its_lease_ends(provider):
    ProviderAnswer.objects.create(
        provider=provider,
        operation="find_email",
        input_fingerprint="f" * 64,
        lease_token="killed",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    asker = Asker(found())

    assert ask(provider, asker).result.found
    assert asker.calls == 1


def test_nothing_is_stored_when_answers_are_not_kept(provider):
    asker = Asker(found(), found())
    ask(provider, asker, ttl=None)
    ask(provider, asker, ttl=None)

    assert asker.calls == 2
    assert not ProviderAnswer.objects.exists()


def test_an_erasure_deletes_the_answers_about_the_person(provider):
    ask(provider, Asker(found()))
    ask(provider, Asker(found("grace@navy.example")), fingerprint="e" * 64)

    assert answers.erase_about(emails=["ADA@acme.example"]) == 1
    assert answers.erase_about(people=[{**QUESTION, "first_name": " ada "}]) == 1
    assert not ProviderAnswer.objects.exists()


def test_subject_keys_name_the_person_however_they_were_asked_about():
    keys = answers.subject_keys(
        {"linkedin_url": "https://www.linkedin.com/in/ada/?trk=x", **QUESTION}, found()
    )

    assert keys == [
        "email:ada@acme.example",
        "linkedin:in/ada",
        "person:ada lovelace@acme.example",
    ]
