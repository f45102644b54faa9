"""Merging what several sources said about a field, and ranking providers by their record
(pure: no database)."""

from __future__ import annotations

from decimal import Decimal

from enrichment.waterfall import FieldAnswer, Step, merge_answers, rank_steps
from providers.models import Provider


def answer(value, confidence, source):
    return FieldAnswer(value, confidence, source)


def test_the_most_trusted_value_wins_and_a_conflict_lowers_its_confidence():
    merged = merge_answers(
        [answer("CTO", 70, "hunter"), answer("VP Engineering", 85, "pdl")], weights={}
    )

    assert (merged.value, merged.source, merged.confidence) == ("VP Engineering", "pdl", 70)
    assert [c["source"] for c in merged.extra["candidates"]] == ["hunter", "pdl"]


def test_sources_that_agree_raise_the_confidence():
    merged = merge_answers(
        [answer("Head of Sales", 70, "hunter"), answer("head of  sales", 72, "pdl")], weights={}
    )

    assert (merged.value, merged.confidence) == ("head of  sales", 82)


def test_source_weights_decide_between_values():
    merged = merge_answers(
        [answer("CTO", 70, "apollo"), answer("CEO", 80, "sandbox")],
        weights={"sandbox": 0.5},
    )

    assert merged.value == "CTO"


def test_a_single_answer_is_kept_as_it_is():
    merged = merge_answers([answer("CTO", 91, "pdl")], weights={})

    assert (merged.value, merged.confidence, merged.extra) == ("CTO", 91, {})


def step(slug):
    return Step(Provider(slug=slug, name=slug, adapter="hunter"), {})


def test_ranked_order_puts_the_provider_that_finds_most_per_dollar_first():
    steps = [step("a"), step("b"), step("c"), step("new")]
    stats = {
        "a": {"attempts": 100, "found": 40, "cost": 4.0, "latency_ms": 300},
        "b": {"attempts": 100, "found": 80, "cost": 8.0, "latency_ms": 900},
        "c": {"attempts": 100, "found": 80, "cost": 2.0, "latency_ms": 200},
    }

    ranked = rank_steps(steps, stats)

    assert [s.provider.slug for s in ranked] == ["c", "b", "a", "new"]


def test_no_more_providers_than_allowed_are_asked_about_a_lead(monkeypatch):
    from enrichment import waterfall
    from enrichment.batch import Lead
    from providers.adapters.base import FieldValue, OperationSpec, ProviderResult

    asked = []

    def ask(step, op, inputs, lead, job_item):
        asked.append(step.provider.slug)
        return ProviderResult(found=True, fields={"title": FieldValue("CTO", 60)}, raw={}, cost=0)

    monkeypatch.setattr(waterfall, "_ask", ask)
    spec = {
        "enrich_person": OperationSpec(
            required=(), optional=(), outputs=("title",), cost=Decimal(0)
        )
    }
    steps = [Step(Provider(slug=s, name=s, adapter="x"), dict(spec)) for s in ("a", "b", "c")]

    waterfall.fill_lead(Lead(index=0, row={}), {}, ["title"], steps, max_providers=2)

    assert asked == ["a", "b"]
