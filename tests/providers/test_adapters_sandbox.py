from __future__ import annotations

import json
from decimal import Decimal

import pytest

from providers.adapters.base import Operation, RequestSpec
from providers.adapters.sandbox import SandboxAdapter


class ExplodingTransport:
    def send(self, spec: RequestSpec):  # pragma: no cover - must never be called
        raise AssertionError("the sandbox must not use the network")


INPUTS = {
    Operation.FIND_EMAIL: {"first_name": "Jane", "last_name": "Doe", "domain": "acme.com"},
    Operation.VERIFY_EMAIL: {"email": "jane.doe@acme.com"},
    Operation.ENRICH_PERSON: {"full_name": "Jane Doe", "domain": "acme.com"},
    Operation.ENRICH_COMPANY: {"company_name": "Acme Inc"},
    Operation.SEARCH_PEOPLE: {"domain": "acme.com", "title": "Head of Sales"},
    Operation.TECHNOGRAPHICS: {"domain": "acme.com"},
    Operation.FIND_PHONE: {"full_name": "Jane Doe"},
}


def test_it_supports_every_operation():
    assert set(SandboxAdapter.operations) == set(Operation)
    assert SandboxAdapter.credential_fields == ()


@pytest.mark.parametrize("op", list(Operation))
def test_it_answers_every_operation_for_free_without_network(op):
    result = SandboxAdapter(credentials={}).call(op, INPUTS[op], ExplodingTransport())
    assert result.found
    assert result.cost == Decimal(0)
    assert result.extra == {"synthetic": True, "source": "sandbox"}
    assert set(result.fields) <= set(SandboxAdapter.operations[op].outputs)


@pytest.mark.parametrize("op", list(Operation))
def test_it_is_deterministic(op):
    a = SandboxAdapter(credentials={}).call(op, INPUTS[op], None)
    b = SandboxAdapter(credentials={}).call(op, {k: f" {v} " for k, v in INPUTS[op].items()}, None)
    assert a == b


def test_different_inputs_give_different_answers():
    adapter = SandboxAdapter(credentials={})
    emails = {
        adapter.call(
            Operation.FIND_EMAIL, {"first_name": n, "last_name": "Doe", "domain": "acme.com"}, None
        ).value("email")
        for n in ("Ann", "Bob", "Cleo", "Dan", "Eve", "Fay")
    }
    assert len(emails) == 6


def test_made_up_values_are_labelled_synthetic():
    adapter = SandboxAdapter(credentials={})
    person = adapter.call(Operation.ENRICH_PERSON, INPUTS[Operation.ENRICH_PERSON], None)
    assert person.value("title").endswith("(synthetic)")
    assert person.value("company_name").endswith("(sandbox)")
    assert ".invalid/" in person.value("linkedin_url")
    assert person.value("mobile_phone").startswith("+1-555-01")
    assert person.value("email").endswith("@acme.com")

    company = adapter.call(Operation.ENRICH_COMPANY, INPUTS[Operation.ENRICH_COMPANY], None)
    assert company.value("domain") == "acme-inc.example"
    assert company.value("company_name") == "Acme Inc Co (sandbox)"
    assert all(
        t.endswith("(sandbox)")
        for t in adapter.call(Operation.TECHNOGRAPHICS, {"domain": "acme.com"}, None).value(
            "technologies"
        )
    )

    people = adapter.call(Operation.SEARCH_PEOPLE, INPUTS[Operation.SEARCH_PEOPLE], None).value(
        "people"
    )
    assert all(p["title"] == "Head of Sales (synthetic)" for p in people)
    assert json.dumps(people)  # plain JSON, storable as is


@pytest.mark.parametrize(
    "inputs",
    [
        {"first_name": "Jane", "last_name": "Nomatch", "domain": "acme.com"},
        {"first_name": "Jane", "last_name": "Doe", "domain": "nomatch.example"},
    ],
)
def test_a_nomatch_input_gives_no_match(inputs):
    result = SandboxAdapter(credentials={}).call(Operation.FIND_EMAIL, inputs, None)
    assert result.found is False
    assert result.extra["synthetic"] is True
