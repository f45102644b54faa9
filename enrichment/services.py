"""State changes of the email finder: learning domain patterns from what is stored,
recording bounces, saving found and verified addresses. Views, API views, admin actions,
commands and tasks call these; each runs in a transaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from contacts.models import (
    ContactActivity,
    ContactEmail,
    ContactSource,
    EnrichedContact,
    GenerationMethod,
    Suppression,
    SuppressionKind,
    VerificationMethod,
    VerificationStatus,
    suppression_hash,
)
from enrichment.batch import display_names, field_value
from enrichment.emails.finder import guess_evidence
from enrichment.emails.names import InvalidName, parse_name_parts
from enrichment.emails.patterns import DomainPattern as LearnedPattern
from enrichment.emails.patterns import KnownEmail, learn_patterns_by_domain
from enrichment.emails.scoring import EmailEvidence, EmailScore, score_email
from enrichment.emails.verify import verify_emails
from enrichment.models import DomainPattern, EnrichmentJob
from providers.models import Provider

logger = logging.getLogger(__name__)

OK_STATUSES = {VerificationStatus.VERIFIED, VerificationStatus.UNKNOWN, VerificationStatus.RISKY}

# Weight of an address by where it came from: one we only guessed and never confirmed must
# not teach the learner its own guess back, so it is not evidence at all.
EVIDENCE_WEIGHTS = {
    GenerationMethod.IMPORT: 1.0,
    GenerationMethod.MANUAL: 1.0,
    GenerationMethod.API_ENRICHMENT: 0.8,
}


def known_emails_for_domains(domains: Iterable[str]) -> list[KnownEmail]:
    """Stored addresses usable as pattern evidence at ``domains``, bounces as negatives."""
    domains = {d.lower() for d in domains if d}
    if not domains:
        return []
    rows = (
        ContactEmail.objects.filter(domain__in=domains)
        .filter(
            Q(bounced_at__isnull=False)
            | ~Q(generation_method=GenerationMethod.PATTERN_DETECTION)
            | Q(verification_status=VerificationStatus.VERIFIED)
        )
        .exclude(contact__first_name="")
        .values_list(
            "email",
            "contact__first_name",
            "contact__last_name",
            "generation_method",
            "verification_status",
            "bounced_at",
        )
    )
    known = []
    for email, first, last, method, status, bounced_at in rows.iterator(chunk_size=2000):
        if bounced_at is not None:
            known.append(KnownEmail(email, first, last, source="bounce", bounced=True))
            continue
        weight = EVIDENCE_WEIGHTS.get(method, 1.0 if status == VerificationStatus.VERIFIED else 0.5)
        known.append(KnownEmail(email, first, last, weight=weight, source=method or "stored"))
    return known


@transaction.atomic
def domain_patterns_learn(
    *, domains: Iterable[str], extra: Iterable[KnownEmail] = ()
) -> dict[str, LearnedPattern]:
    """Learn the patterns of ``domains`` from stored addresses plus ``extra`` (rows of the
    file being processed, a provider's domain search), and store the result per domain."""
    domains = {d.lower() for d in domains if d}
    extra = [k for k in extra if k.domain in domains]
    learned = learn_patterns_by_domain([*known_emails_for_domains(domains), *extra])
    for domain, pattern in learned.items():
        DomainPattern.objects.update_or_create(
            domain=domain,
            defaults={
                "top_pattern": pattern.top if pattern.examples else "",
                "distribution": pattern.distribution,
                "evidence": pattern.to_dict(),
                "support": pattern.support,
                "share": pattern.share,
                "examples": pattern.examples,
            },
        )
    return learned


@dataclass(frozen=True)
class BounceOutcome:
    email: str
    addresses_marked: int


@transaction.atomic
def email_record_bounce(
    *, email: str, actor: AbstractBaseUser | None = None, reason: str = ""
) -> BounceOutcome:
    """Mark every stored copy of ``email`` invalid and re-learn its domain's pattern, so the
    bounce counts against the pattern that produced the address."""
    email = email.strip().lower()
    now = timezone.now()
    rows = list(ContactEmail.objects.select_for_update().filter(email__iexact=email))
    for row in rows:
        row.verification_status = VerificationStatus.INVALID
        row.verification_score = 0
        row.verification_method = VerificationMethod.BOUNCE
        row.bounced_at = row.bounced_at or now
        row.last_checked_at = now
        row.score_breakdown = [
            {"name": "invalid", "points": 0, "detail": f"bounced{': ' + reason if reason else ''}"}
        ]
        row.save(
            update_fields=[
                "verification_status",
                "verification_score",
                "verification_method",
                "bounced_at",
                "last_checked_at",
                "score_breakdown",
                "updated_at",
            ]
        )
        ContactActivity.objects.create(
            contact=row.contact,
            contact_ref=str(row.contact_id),
            action="email_bounced",
            actor=actor,
            detail={"email": email, "reason": reason[:200]},
        )
    if rows:
        domain_patterns_learn(domains=[email.rsplit("@", 1)[-1]])
    return BounceOutcome(email=email, addresses_marked=len(rows))


def _contact_for(lead, mapping: dict[str, str], job: EnrichmentJob, project) -> EnrichedContact:
    """A contact awaiting review, with the names as the user wrote them."""
    first, last = display_names(lead.row, mapping)
    linkedin = field_value(lead.row, mapping, "linkedin_url")
    return EnrichedContact(
        first_name=(first or lead.parsed.first.title())[:100],
        last_name=last[:100],
        original_name=lead.parsed.original[:300],
        title=field_value(lead.row, mapping, "title")[:200],
        company=field_value(lead.row, mapping, "company_name")[:200],
        domain=lead.domain,
        source=ContactSource.IMPORT,
        discovery_method="csv import",
        job=job,
        project=project,
        confidence_score=int(lead.result.get("email_confidence") or 0),
        linkedin_url=linkedin[:500] if linkedin.startswith("https://") else "",
    )


def _email_for(contact: EnrichedContact, result: dict, now) -> ContactEmail:
    found = result.get("found")
    given = result["email_source"] == "input"
    return ContactEmail(
        contact=contact,
        email=result["email"],
        domain=result["email"].rsplit("@", 1)[1],
        is_primary=True,
        verification_status=result["email_status"],
        verification_score=int(result["email_confidence"]),
        verification_method=(
            VerificationMethod.SMTP_PING
            if "smtp" in result["email_source"]
            else VerificationMethod.MX_CHECK
        ),
        score_breakdown=result.get("breakdown", []),
        generation_method=GenerationMethod.IMPORT if given else GenerationMethod.PATTERN_DETECTION,
        pattern=result.get("email_pattern", ""),
        name_permutations=found.tried if found else [],
        mx_check_passed=bool(result.get("mx_host")),
        mx_host=result.get("mx_host", ""),
        catch_all=found.catch_all if found else None,
        last_checked_at=now,
    )


def mark_suppressed(leads) -> None:
    """Leads whose email belongs to an erased person are answered, not processed."""
    suppressed = suppressed_emails(lead.email.lower() for lead in leads if lead.email)
    for lead in leads:
        if lead.email.lower() in suppressed:
            lead.result = {
                "email": "",
                "email_status": "",
                "email_confidence": "",
                "email_source": "",
                "email_pattern": "",
                "email_reason": "suppressed: this person asked to be erased",
                "suppressed": True,
            }


def suppressed_emails(emails: Iterable[str]) -> set[str]:
    """Which of ``emails`` belong to people erased on request."""
    hashes = {suppression_hash(e): e for e in emails if e}
    found = Suppression.objects.filter(
        kind=SuppressionKind.EMAIL, value_hash__in=hashes
    ).values_list("value_hash", flat=True)
    return {hashes[h] for h in found}


def contact_emails_verify(
    *, ids: Iterable[int], smtp: bool = False, resolver=None, prober=None
) -> dict[int, int]:
    """Re-verify stored addresses (MX, and SMTP when asked) and store status, score and
    breakdown. Returns ``{contact_email_id: seconds}`` for probes that were greylisted and
    are worth retrying after that delay."""
    rows = list(
        ContactEmail.objects.filter(pk__in=list(ids))
        .exclude(bounced_at__isnull=False)
        .select_related("contact")
    )
    if not rows:
        return {}
    # A guessed address keeps what its pattern at the domain says about it, learned from what
    # is known now (bounces included): re-checking MX or SMTP must not drop that evidence.
    guessed_domains = {
        row.domain for row in rows if row.generation_method == GenerationMethod.PATTERN_DETECTION
    }
    # The addresses being checked are not evidence for themselves.
    checked = {row.email.lower() for row in rows}
    learned = learn_patterns_by_domain(
        [k for k in known_emails_for_domains(guessed_domains) if k.email.lower() not in checked]
    )
    now = timezone.now()
    retry: dict[int, int] = {}
    results = verify_emails(
        [row.email for row in rows], smtp=smtp, resolver=resolver, prober=prober
    )
    for row, result in zip(rows, results, strict=True):
        status, score, breakdown = result.status, result.score, result.breakdown
        if row.domain in guessed_domains and result.evidence is not None:
            rescored = _rescore_guess(row, result.evidence, learned.get(row.domain))
            if rescored is not None:
                status, score = str(rescored.status), rescored.score
                breakdown = rescored.to_dict()["factors"]
        row.verification_status = status
        row.verification_score = score
        row.score_breakdown = breakdown
        row.verification_method = (
            VerificationMethod.SMTP_PING if result.smtp else VerificationMethod.MX_CHECK
        )
        row.mx_check_passed = result.mx_status in {"present", "implicit"}
        row.mx_host = result.mx_host or ""
        row.smtp_check_passed = {"accepted": True, "rejected": False}.get(result.smtp or "")
        row.smtp_result = (result.reason or "")[:200]
        row.catch_all = result.catch_all
        row.last_checked_at = now
        if result.retry_after:
            retry[row.pk] = result.retry_after
    with transaction.atomic():
        ContactEmail.objects.bulk_update(
            rows,
            [
                "verification_status",
                "verification_score",
                "score_breakdown",
                "verification_method",
                "mx_check_passed",
                "mx_host",
                "smtp_check_passed",
                "smtp_result",
                "catch_all",
                "last_checked_at",
                "updated_at",
            ],
            batch_size=1000,
        )
    return retry


def _rescore_guess(
    row: ContactEmail, evidence: EmailEvidence, learned: LearnedPattern | None
) -> EmailScore | None:
    """``row``'s score with its pattern evidence added to a fresh check's ``evidence``; None
    when it is not a guess or its name no longer gives this address."""
    if row.generation_method != GenerationMethod.PATTERN_DETECTION:
        return None
    try:
        parsed = parse_name_parts(row.contact.first_name, row.contact.last_name)
    except InvalidName:
        return None
    extra = guess_evidence(parsed, row.email, learned)
    if extra is None:
        return None
    return score_email(dataclasses.replace(evidence, **extra))


#: Weight of an address a provider's domain search returned: good evidence, not confirmed by us.
PROVIDER_EVIDENCE_WEIGHT = 0.8


def known_emails_from_providers(
    *, domains: Iterable[str], providers: Iterable[Provider]
) -> list[KnownEmail]:
    """Named addresses that domain-search providers (Hunter's domain search) know at
    ``domains``, as pattern evidence. Each domain is asked once per provider through the
    provider client, so the answer is cached and a re-run does not pay again; a provider
    that fails is skipped without stopping the others."""
    from providers.adapters import get_adapter_class
    from providers.adapters.base import Operation
    from providers.client import call_provider
    from providers.errors import ProviderError

    searchers = []
    for provider in providers:
        adapter = get_adapter_class(provider.adapter)(
            base_url=provider.base_url or None, credentials={}, config=provider.config
        )
        spec = adapter.operations.get(Operation.SEARCH_PEOPLE)
        if spec is not None and "emails" in spec.outputs:
            searchers.append(provider)
    known: list[KnownEmail] = []
    for domain in sorted({d for d in domains if d}):
        for provider in searchers:
            try:
                result = call_provider(provider, Operation.SEARCH_PEOPLE, {"domain": domain})
            except ProviderError as exc:
                logger.warning(
                    "domain search failed",
                    extra={"provider": provider.slug, "domain": domain, "error": exc.code},
                )
                continue
            if result.extra.get("synthetic"):
                continue  # made-up addresses (the sandbox) say nothing about a real domain
            for entry in result.value("emails", []) or []:
                if entry.get("first_name") and entry.get("last_name") and entry.get("email"):
                    known.append(
                        KnownEmail(
                            entry["email"],
                            entry["first_name"],
                            entry["last_name"],
                            weight=PROVIDER_EVIDENCE_WEIGHT,
                            source=provider.slug,
                        )
                    )
    return known
