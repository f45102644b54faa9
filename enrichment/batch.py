"""The email step of batch enrichment over rows of a CSV file (or any list of mappings).

Rows that already have an email teach the learner their domain's pattern and are verified;
rows without one get the best guess for their domain. Every row comes back, in order, with
``email_status``, ``email_confidence``, ``email_source`` and, when something is wrong with
the row, ``email_reason`` saying what — a bad row never stops the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from enrichment.emails.domains import InvalidDomain, check_syntax, clean_domain, is_free_mail
from enrichment.emails.finder import FinderFailure, FinderRequest, FoundEmail, find_emails
from enrichment.emails.mx import MxResolver
from enrichment.emails.names import InvalidName, ParsedName, parse_name, parse_name_parts
from enrichment.emails.patterns import DomainPattern, KnownEmail
from enrichment.emails.smtp import SmtpProber
from enrichment.emails.verify import verify_emails

SOCIAL_DOMAINS = frozenset(
    {"linkedin.com", "facebook.com", "twitter.com", "x.com", "instagram.com"}
)

Learn = Callable[[set[str], list[KnownEmail]], Mapping[str, DomainPattern]]


# Identity, not field-by-field equality: leads are looked up among thousands of others, and
# two rows with the same values are still two leads.
@dataclass(eq=False)
class Lead:
    """One input row read through the column mapping."""

    index: int
    row: Mapping[str, str]
    parsed: ParsedName | None = None
    domain: str = ""
    email: str = ""
    problems: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def field_value(row: Mapping[str, str], mapping: Mapping[str, str], name: str) -> str:
    header = mapping.get(name)
    return (row.get(header) or "").strip() if header else ""


def display_names(row: Mapping[str, str], mapping: Mapping[str, str]) -> tuple[str, str]:
    """First and last name as the row wrote them (case, accents and particles kept), for
    display; a full name "Last, First" is read that way round."""
    first = field_value(row, mapping, "first_name")
    last = field_value(row, mapping, "last_name")
    if first or last:
        return first, last
    full = " ".join(field_value(row, mapping, "full_name").split())
    if "," in full:
        last, _, first = full.partition(",")
        return first.strip(), last.strip()
    first, _, last = full.partition(" ")
    return first, last


def read_leads(rows: Iterable[Mapping[str, str]], mapping: Mapping[str, str]) -> list[Lead]:
    leads = []
    for index, row in enumerate(rows):
        lead = Lead(index=index, row=row)
        first, last = (
            field_value(row, mapping, "first_name"),
            field_value(row, mapping, "last_name"),
        )
        full = field_value(row, mapping, "full_name")
        try:
            if first or last:
                lead.parsed = parse_name_parts(first, last)
            elif full:
                lead.parsed = parse_name(full)
            else:
                lead.problems.append("no name")
        except InvalidName as exc:
            lead.problems.append(f"bad name: {exc}")
        lead.email = field_value(row, mapping, "email")
        raw_domain = field_value(row, mapping, "domain")
        if not raw_domain and lead.email and "@" in lead.email:
            raw_domain = lead.email.rsplit("@", 1)[1]
        if raw_domain:
            try:
                lead.domain = clean_domain(raw_domain)
            except (InvalidDomain, ValueError) as exc:
                lead.problems.append(f"bad domain: {exc}")
            if lead.domain in SOCIAL_DOMAINS:
                # Scrapers' "companyUrl" is the company's LinkedIn page: guessing addresses at
                # linkedin.com would be wrong for every row.
                lead.problems.append(
                    f"bad domain: {lead.domain} is a social profile, not a website"
                )
                lead.domain = ""
        elif not lead.email:
            lead.problems.append("no domain")
        leads.append(lead)
    return leads


def known_from_leads(leads: Iterable[Lead]) -> list[KnownEmail]:
    """Addresses given in the file, as pattern evidence (webmail addresses teach nothing)."""
    known = []
    for lead in leads:
        if not (lead.email and lead.parsed):
            continue
        checked = check_syntax(lead.email)
        if checked.valid and not is_free_mail(checked.domain):
            known.append(
                KnownEmail(checked.normalized, lead.parsed.first, lead.parsed.last, source="input")
            )
    return known


def run_email_step(
    leads: list[Lead],
    *,
    learn: Learn,
    resolver: MxResolver | None = None,
    prober: SmtpProber | None = None,
    smtp: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, DomainPattern]:
    """Fill ``lead.result`` for every lead; returns the patterns learned per domain."""
    resolver = resolver if resolver is not None else MxResolver()
    domains = {lead.domain for lead in leads if lead.domain}
    patterns = dict(learn(domains, known_from_leads(leads)))

    given = [lead for lead in leads if lead.email]
    for lead, verified in zip(
        given,
        verify_emails([lead.email for lead in given], smtp=smtp, resolver=resolver, prober=prober),
        strict=True,
    ):
        lead.result = {
            "email": verified.normalized or lead.email,
            "email_status": verified.status,
            "email_confidence": verified.score,
            "email_source": "input",
            "email_pattern": "",
            "email_reason": verified.reason,
            "mx_host": verified.mx_host or "",
            "breakdown": verified.breakdown,
        }
        if progress:
            progress(1)

    wanted = [lead for lead in leads if not lead.email]
    findable = [lead for lead in wanted if lead.parsed and lead.domain and not lead.problems]
    findable_ids = {id(lead) for lead in findable}
    for lead in wanted:
        if id(lead) not in findable_ids:
            lead.result = _not_found("; ".join(lead.problems) or "no name or domain")
            if progress:
                progress(1)
    found = find_emails(
        [FinderRequest(lead.parsed, lead.domain) for lead in findable],  # type: ignore[arg-type]
        patterns=patterns,
        resolver=resolver,
        prober=prober,
        smtp=smtp,
    )
    for lead, outcome in zip(findable, found, strict=True):
        lead.result = _from_found(outcome, smtp)
        if progress:
            progress(1)
    return patterns


def _not_found(reason: str) -> dict[str, Any]:
    return {
        "email": "",
        "email_status": "",
        "email_confidence": "",
        "email_source": "",
        "email_pattern": "",
        "email_reason": reason,
    }


def _from_found(outcome: FoundEmail | FinderFailure, smtp: bool) -> dict[str, Any]:
    if isinstance(outcome, FinderFailure):
        return _not_found(outcome.reason)
    learned = (
        f"{outcome.domain_pattern} ({outcome.domain_pattern_support} known, "
        f"{outcome.domain_pattern_share:.0%})"
        if outcome.domain_pattern
        else "prior (no known address at the domain)"
    )
    return {
        "email": outcome.email,
        "email_status": outcome.status,
        "email_confidence": outcome.score,
        "email_source": "pattern+smtp" if smtp and outcome.smtp else "pattern",
        "email_pattern": outcome.pattern,
        "email_reason": f"{outcome.reason}; domain pattern: {learned}",
        "mx_host": outcome.mx_host or "",
        "breakdown": outcome.breakdown,
        "found": outcome,
    }
