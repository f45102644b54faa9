"""The provider waterfall: for each wanted field, ask providers in order and stop at the
first answer that is confident enough (Clay's "stop at the first validated result").

Every call goes through :func:`providers.client.call_provider`, so limits, breakers, the
response cache (one paid call per question, however many fields it answers) and the ledger
apply. A provider that fails for reasons that will not change during the run (bad key, no
credits) is dropped for the rest of the run instead of being asked for every row.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from tqdm import tqdm

from enrichment.batch import Lead, field_value
from enrichment.emails.scoring import VERIFIED_THRESHOLD, status_for_score
from enrichment.fields import CANONICAL_FIELDS
from providers.adapters import get_adapter_class
from providers.adapters.base import Operation, OperationSpec, ProviderResult
from providers.client import call_provider
from providers.errors import BudgetExhausted, ErrorKind, ProviderError
from providers.models import Provider

logger = logging.getLogger(__name__)

DEFAULT_MIN_CONFIDENCE = 80
#: Provider email verdicts in our verification vocabulary.
EMAIL_STATUS_MAP = {
    "valid": "verified",
    "invalid": "invalid",
    "catch_all": "risky",
    "risky": "risky",
    "disposable": "invalid",
    "webmail": "risky",
    "unknown": "unknown",
}
#: ``email_source`` of a verdict our own DNS and SMTP checks reached (enrichment.batch).
CHECKED_HERE = frozenset({"input", "pattern", "pattern+smtp"})
#: Errors after which asking the same provider again this run is pointless.
FATAL_CODES = {
    "invalid_key",
    "expired_token",
    "insufficient_permissions",
    "suspended",
    "quota_exhausted",
    "offline",
}


@dataclass
class Step:
    provider: Provider
    operations: dict[Operation, OperationSpec]
    min_confidence: int = DEFAULT_MIN_CONFIDENCE
    disabled_reason: str = ""
    calls: int = 0
    answers: int = 0


@dataclass
class FieldAnswer:
    value: Any
    confidence: int
    source: str
    extra: dict = field(default_factory=dict)


def load_steps(slugs: Sequence[str], min_confidence: int = DEFAULT_MIN_CONFIDENCE) -> list[Step]:
    """The named providers, in the given order; unknown or disabled ones are an error."""
    found = {p.slug: p for p in Provider.objects.filter(slug__in=slugs)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise ValueError(f"unknown provider(s): {', '.join(missing)}")
    disabled = [s for s in slugs if not found[s].enabled]
    if disabled:
        raise ValueError(f"disabled provider(s): {', '.join(disabled)}")
    steps = []
    for slug in slugs:
        provider = found[slug]
        adapter = get_adapter_class(provider.adapter)(
            base_url=provider.base_url or None, credentials={}, config=provider.config
        )
        steps.append(Step(provider, dict(adapter.operations), min_confidence))
    return steps


def lead_inputs(lead: Lead, mapping: Mapping[str, str]) -> dict[str, Any]:
    """Canonical inputs for provider calls from what the row (and the finder) knows."""
    inputs = {f: field_value(lead.row, mapping, f) for f in CANONICAL_FIELDS}
    if lead.parsed is not None:
        inputs["first_name"] = inputs["first_name"] or lead.parsed.first
        inputs["last_name"] = inputs["last_name"] or lead.parsed.last
        inputs["full_name"] = inputs["full_name"] or " ".join(
            p for p in (inputs["first_name"], inputs["last_name"]) if p
        )
    if lead.domain:
        inputs["domain"] = lead.domain
    if lead.result.get("email") and lead.result.get("email_status") == "verified":
        inputs["email"] = lead.result["email"]
    return {k: v for k, v in inputs.items() if v not in ("", None)}


def _operation_for(step: Step, wanted: str, inputs: Mapping[str, Any]) -> Operation | None:
    """The cheapest operation of ``step`` that outputs ``wanted`` and can run on ``inputs``."""
    usable = [
        (spec.cost, op)
        for op, spec in step.operations.items()
        if wanted in spec.outputs and not spec.missing(inputs)
    ]
    return min(usable)[1] if usable else None


#: How much a value's confidence moves for each other source that agrees, or disagrees.
AGREEMENT_BONUS = 10
CONFLICT_PENALTY = 15


def merge_answers(candidates: Sequence[FieldAnswer], weights: Mapping[str, float]) -> FieldAnswer:
    """One value from the answers several sources gave for a field.

    The value with the highest ``weight(source) x confidence`` wins; its confidence gains
    :data:`AGREEMENT_BONUS` for each other source that gave the same value and loses
    :data:`CONFLICT_PENALTY` for each that gave another, within 0-100. Every candidate is kept
    in ``extra["candidates"]``.
    """
    best = max(candidates, key=lambda c: weights.get(c.source, 1.0) * c.confidence)
    key = _comparable(best.value)
    agree = sum(1 for c in candidates if c is not best and _comparable(c.value) == key)
    conflict = len(candidates) - 1 - agree
    confidence = best.confidence + AGREEMENT_BONUS * agree - CONFLICT_PENALTY * conflict
    extra = dict(best.extra)
    if len(candidates) > 1:
        extra["candidates"] = [
            {"source": c.source, "value": c.value, "confidence": c.confidence} for c in candidates
        ]
    return FieldAnswer(best.value, max(0, min(100, confidence)), best.source, extra)


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    return value


def rank_steps(steps: list[Step], stats: Mapping[str, Mapping[str, float]]) -> list[Step]:
    """``steps`` best first by what the ledger says: found rate, then cost per found value,
    then latency. Providers without history keep their place after those with it."""

    def key(indexed: tuple[int, Step]) -> tuple:
        position, step = indexed
        seen = stats.get(step.provider.slug)
        if not seen or not seen.get("attempts"):
            return (1, 0.0, 0.0, 0.0, position)
        found_rate = seen["found"] / seen["attempts"]
        per_found = seen["cost"] / seen["found"] if seen["found"] else float("inf")
        return (0, -round(found_rate, 2), per_found, seen.get("latency_ms", 0.0), position)

    return [step for _, step in sorted(enumerate(steps), key=key)]


def fill_lead(
    lead: Lead,
    inputs: dict[str, Any],
    fields: Sequence[str],
    steps: list[Step],
    job_item=None,
    cost_cap: Decimal | None = None,
    max_providers: int | None = None,
) -> dict[str, FieldAnswer]:
    """Ask ``steps`` in order for each of ``fields`` not already known well enough.

    For each field the steps are asked until one answers with at least its minimum
    confidence; what every asked step said is merged (:func:`merge_answers`), so sources that
    agree can together pass the minimum. With ``cost_cap``, a call whose price would take the
    lead's spend past it is not made; with ``max_providers``, no more than that many providers
    are asked about the lead. A budget refusal (:class:`BudgetExhausted`) is raised: the caller
    pauses the job.
    """
    answers: dict[str, FieldAnswer] = {}
    asked: dict[tuple[str, Operation], ProviderResult | None] = {}
    spent = Decimal(0)
    weights = {s.provider.slug: _weight(s.provider) for s in steps}
    for wanted in fields:
        if wanted == "email" and lead.result.get("email_status") == "verified":
            continue
        if wanted != "email" and inputs.get(wanted):
            continue  # the row already has it
        candidates: list[FieldAnswer] = []
        minimum = 100
        for step in steps:
            if step.disabled_reason:
                continue
            op = _operation_for(step, wanted, inputs)
            if op is None:
                continue
            key = (step.provider.slug, op)
            if key not in asked:
                providers_asked = {slug for slug, _ in asked}
                if (
                    max_providers is not None
                    and step.provider.slug not in providers_asked
                    and len(providers_asked) >= max_providers
                ):
                    continue
                price = max(step.provider.price_for(op), step.operations[op].cost)
                if cost_cap is not None and spent + price > cost_cap:
                    lead.result.setdefault("provider_errors", []).append(
                        f"{step.provider.slug}: skipped, the lead's cost cap {cost_cap} is reached"
                    )
                    continue
                asked[key] = _ask(step, op, inputs, lead, job_item)
                spent += asked[key].cost if asked[key] is not None else Decimal(0)
            result = asked[key]
            if result is None or not result.found or wanted not in result.fields:
                continue
            value = result.fields[wanted]
            if value.value in (None, "", []):
                continue
            if wanted == "email" and result.extra.get("synthetic") and _checked_here(lead):
                # Made-up data (the sandbox) never replaces what DNS or SMTP said.
                continue
            answer = FieldAnswer(
                value.value, value.confidence, step.provider.slug, dict(result.extra)
            )
            if wanted == "email":
                status = result.fields.get("email_status")
                answer.extra["email_status"] = status.value if status else "unknown"
            candidates.append(answer)
            minimum = min(minimum, step.min_confidence)
            if value.confidence >= step.min_confidence:
                break
        if candidates:
            merged = merge_answers(candidates, weights)
            if merged.confidence >= minimum:
                answers[wanted] = merged
    return answers


def _weight(provider: Provider) -> float:
    try:
        return float((provider.config or {}).get("source_weight", 1.0))
    except (TypeError, ValueError):
        return 1.0


def _checked_here(lead: Lead) -> bool:
    """Whether the lead's email verdict comes from our own DNS (and SMTP) checks."""
    return bool(lead.result.get("email_status")) and lead.result.get("email_source") in CHECKED_HERE


def _ask(step: Step, op: Operation, inputs: dict, lead: Lead, job_item) -> ProviderResult | None:
    step.calls += 1
    try:
        result = call_provider(step.provider, op, inputs, job_item=job_item)
    except BudgetExhausted:
        raise
    except ProviderError as exc:
        lead.result.setdefault("provider_errors", []).append(
            f"{step.provider.slug}: {exc.kind}/{exc.code}"
        )
        if exc.code in FATAL_CODES or exc.kind == ErrorKind.AUTHENTICATION:
            step.disabled_reason = f"{exc.kind}/{exc.code}"
            logger.warning(
                "provider dropped for this run",
                extra={"provider": step.provider.slug, "reason": step.disabled_reason},
            )
        return None
    if result.found:
        step.answers += 1
    return result


def apply_answers(lead: Lead, answers: Mapping[str, FieldAnswer]) -> None:
    for name, answer in answers.items():
        lead.result.setdefault("field_sources", {})[name] = {
            "source": answer.source,
            "confidence": answer.confidence,
        }
        if name == "email":
            provider_status = answer.extra.get("email_status", "unknown")
            status = EMAIL_STATUS_MAP.get(provider_status, "unknown")
            if status == "verified" and answer.confidence < VERIFIED_THRESHOLD:
                # A "valid" the provider itself is unsure of is not verified by our scale.
                status = status_for_score(answer.confidence)
            lead.result.update(
                email=answer.value,
                email_status=status,
                email_confidence=answer.confidence,
                email_source=answer.source,
                email_pattern="",
                email_reason=f"{answer.source} says {provider_status}"
                + (" (synthetic data)" if answer.extra.get("synthetic") else ""),
            )
            lead.result.pop("found", None)
            lead.result.pop("breakdown", None)
        else:
            lead.result[name] = answer.value


def run_provider_step(
    leads: list[Lead],
    *,
    mapping: Mapping[str, str],
    fields: Sequence[str],
    providers: Sequence[str],
    min_confidence: int = DEFAULT_MIN_CONFIDENCE,
    stderr: IO[str] | None = None,
) -> list[Step]:
    steps = load_steps(providers, min_confidence)
    todo = [lead for lead in leads if lead.parsed is not None and not lead.result.get("suppressed")]
    for lead in tqdm(todo, unit="row", desc="providers", disable=None, file=stderr):
        apply_answers(lead, fill_lead(lead, lead_inputs(lead, mapping), fields, steps))
    for step in steps:
        if step.disabled_reason and stderr is not None:
            stderr.write(
                f"{step.provider.slug} stopped after {step.calls} call(s): {step.disabled_reason}\n"
            )
    return steps
