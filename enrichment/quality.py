"""A contact's data quality score: five weighted dimensions and six validation rules.

:func:`assess` takes a contact's canonical values (``{"email": ..., "company_size": ...}``) and,
per field, the evidence for it (``{"source", "confidence", "found_at"}``), and returns a
:class:`QualityReport`: the score (0-100), each dimension's score and each rule's outcome.

Dimensions and weights (from the seed's quality framework):

- **accuracy** 0.35: the format rules (email, phone, LinkedIn) that apply, weighted by severity.
- **completeness** 0.25: required fields present (70 %) and optional fields covered (30 %).
- **consistency** 0.20: the cross-field rules (email-company, name-email, seniority vs
  company size) that apply, weighted by severity.
- **timeliness** 0.10: how recently each value was found: 100 up to 30 days, falling linearly
  to 0 at a year.
- **confidence** 0.10: the mean confidence the sources reported for the values present.

A dimension with nothing to judge (no rule applies, no value has a date or a confidence)
scores 0: a contact earns quality from evidence, not from missing data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum

import phonenumbers

from contacts.matching import linkedin_key
from enrichment.emails.domains import (
    InvalidDomain,
    check_syntax,
    is_free_mail,
    is_role_account,
    normalise_domain,
    registrable_domain,
)
from enrichment.emails.names import InvalidName, fold, parse_name, parse_name_parts

WEIGHTS: dict[str, float] = {
    "accuracy": 0.35,
    "completeness": 0.25,
    "consistency": 0.20,
    "timeliness": 0.10,
    "confidence": 0.10,
}

# Without a name, an address and a company nobody can be contacted; the rest adds reach.
REQUIRED_FIELDS: tuple[tuple[str, ...], ...] = (
    ("first_name", "full_name"),
    ("last_name", "full_name"),
    ("email",),
    ("company_name", "domain"),
    ("title",),
)
OPTIONAL_FIELDS: tuple[tuple[str, ...], ...] = (
    ("phone", "mobile_phone"),
    ("linkedin_url",),
    ("seniority",),
    ("department",),
    ("city", "state", "country", "location"),
    ("company_size",),
    ("industry",),
)
REQUIRED_SHARE = 0.7

FRESH_DAYS = 30
STALE_DAYS = 365

# The seed's decision-maker rule: VP and C-level people work at companies of 50 or more.
SENIOR_MIN_COMPANY_SIZE = 50
_SENIOR_TITLE_RE = re.compile(
    r"\b(?:vp|svp|evp|avp|vice[ -]president|president|chief|ceo|cto|cfo|coo|cmo|cio|ciso|cro|cpo)\b"
)
_SENIOR_SENIORITIES = frozenset({"vp", "c_suite", "c-suite", "c suite", "cxo", "executive"})
# Founders and owners run companies of every size, even when they are also the CEO.
_FOUNDER_RE = re.compile(r"\b(?:co-?founder|founder|owner|founding)\b")
_NUMBER_RE = re.compile(r"\d[\d,.]*")
# Words a company name carries that its domain usually drops ("Acme Inc." → acme.com).
# fmt: off
_COMPANY_SUFFIXES = frozenset([
    "inc", "incorporated", "corp", "corporation", "co", "company", "ltd", "limited", "llc",
    "llp", "plc", "gmbh", "ag", "sa", "sas", "sarl", "bv", "nv", "srl", "spa", "oy", "ab", "as",
    "aps", "kk", "pty", "group", "holding", "holdings", "the",
])
# fmt: on


class Outcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_APPLICABLE = "not_applicable"


class Severity(StrEnum):
    """How much a rule counts in its dimension (the seed's error / warning / info)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


SEVERITY_WEIGHT = {Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


@dataclass(frozen=True)
class RuleResult:
    name: str
    outcome: Outcome
    severity: Severity
    reason: str


@dataclass(frozen=True)
class QualityReport:
    score: int
    dimensions: dict[str, int]
    rules: tuple[RuleResult, ...]

    def as_dict(self) -> dict:
        """A JSON-ready form (what ``EnrichedContact.quality_checks`` stores)."""
        return {
            "score": self.score,
            "dimensions": dict(self.dimensions),
            "rules": [{k: str(v) for k, v in asdict(rule).items()} for rule in self.rules],
        }


def _text(values: Mapping[str, object], field: str) -> str:
    value = values.get(field)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value))


# --- format rules (accuracy) ----------------------------------------------------------------


def rule_email_format(values: Mapping[str, object]) -> RuleResult:
    name, severity = "email_format", Severity.ERROR
    email = _text(values, "email")
    if not email:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no email")
    result = check_syntax(email)
    if not result.valid:
        return RuleResult(name, Outcome.FAILED, severity, f"{email!r}: {result.reason}")
    return RuleResult(name, Outcome.PASSED, severity, f"{result.normalized} is well formed")


def _phone_problem(number: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        # str() reads "(1) The string supplied did not seem to be a phone number."
        detail = re.sub(r"^\(\d+\)\s*", "", str(exc)).rstrip(".")
        return f"{number!r} is not a phone number: {detail}"
    if not phonenumbers.is_valid_number(parsed):
        return f"{number!r} is not a valid number"
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if number != e164:
        return f"{number!r} is valid but not stored in E.164 ({e164})"
    return None


def rule_phone_format(values: Mapping[str, object]) -> RuleResult:
    """Every phone number present is a valid number written in E.164 (``+442079460958``)."""
    name, severity = "phone_format", Severity.ERROR
    numbers = [(f, _text(values, f)) for f in ("phone", "mobile_phone") if _text(values, f)]
    if not numbers:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no phone number")
    region = _text(values, "country").upper() or None
    problems = [p for _, n in numbers if (p := _phone_problem(n, region))]
    if problems:
        return RuleResult(name, Outcome.FAILED, severity, "; ".join(problems))
    shown = ", ".join(n for _, n in numbers)
    return RuleResult(name, Outcome.PASSED, severity, f"{shown} valid, in E.164")


def rule_linkedin_format(values: Mapping[str, object]) -> RuleResult:
    name, severity = "linkedin_format", Severity.ERROR
    url = _text(values, "linkedin_url")
    if not url:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no LinkedIn URL")
    key = linkedin_key(url)
    if not key:
        return RuleResult(
            name, Outcome.FAILED, severity, f"{url!r} is not a linkedin.com/in/<handle> profile"
        )
    return RuleResult(name, Outcome.PASSED, severity, f"profile {key}")


# --- cross-field rules (consistency) -------------------------------------------------------


def _registrable(host: str) -> str:
    try:
        return registrable_domain(host)
    except InvalidDomain:
        return host


def _company_slug(company: str) -> str:
    words = [fold(w) for w in re.split(r"[\s,&+/.()-]+", company)]
    return "".join(w for w in words if w and w not in _COMPANY_SUFFIXES)


def rule_email_company_consistency(values: Mapping[str, object]) -> RuleResult:
    """The address is at the company's domain (or a subdomain of it); with only a company
    name, the domain's name and the company's name contain one another."""
    name, severity = "email_company_consistency", Severity.WARNING
    syntax = check_syntax(_text(values, "email")) if _text(values, "email") else None
    company_domain = normalise_domain(_text(values, "domain"))
    company = _text(values, "company_name")
    if syntax is None or not syntax.valid:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no valid email")
    if not company_domain and not company:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no company or domain")
    email_domain = syntax.domain
    if is_free_mail(email_domain):
        return RuleResult(
            name, Outcome.FAILED, severity, f"{email_domain} is a personal mailbox, not a company"
        )
    if company_domain:
        if _registrable(email_domain) == _registrable(company_domain):
            return RuleResult(name, Outcome.PASSED, severity, f"email at {company_domain}")
        return RuleResult(
            name, Outcome.FAILED, severity, f"email at {email_domain}, company at {company_domain}"
        )
    label = fold(_registrable(email_domain).partition(".")[0])
    slug = _company_slug(company)
    if label and slug and (label in slug or slug in label):
        return RuleResult(name, Outcome.PASSED, severity, f"{email_domain} matches {company!r}")
    return RuleResult(
        name, Outcome.FAILED, severity, f"{email_domain} does not look like {company!r}"
    )


def rule_name_email_consistency(values: Mapping[str, object]) -> RuleResult:
    """The address's local part holds the person's first or last name (any spelling the
    email finder would try: accents folded, transliterated, nicknames, surname parts)."""
    name, severity = "name_email_consistency", Severity.INFO
    email = _text(values, "email")
    syntax = check_syntax(email) if email else None
    if syntax is None or not syntax.valid:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no valid email")
    first, last, full = (_text(values, f) for f in ("first_name", "last_name", "full_name"))
    try:
        if first or last:
            parsed = parse_name_parts(first, last)
        elif full:
            parsed = parse_name(full)
        else:
            return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no name")
    except InvalidName as exc:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, f"name unreadable: {exc}")
    local = syntax.local.partition("+")[0]
    if is_role_account(local):
        return RuleResult(name, Outcome.FAILED, severity, f"{local}@ is a role address")
    compact = re.sub(r"[^a-z]", "", local)
    pieces = {*parsed.first_variants, *parsed.nicknames, *parsed.last_variants}
    pieces |= set(parsed.last_parts)
    found = sorted(p for p in pieces if len(p) >= 2 and p.replace("-", "") in compact)
    if found:
        return RuleResult(name, Outcome.PASSED, severity, f"{local}@ contains {found[0]!r}")
    return RuleResult(
        name,
        Outcome.FAILED,
        severity,
        f"{local}@ contains neither {parsed.first!r} nor {parsed.last!r}",
    )


def parse_company_size(text: str) -> int | None:
    """Head count from ``"51-200"``, ``"1,001-5,000 employees"``, ``"10000+"``, ``"250"``:
    the top of a range (a company of "11-50" may have 50 people), None if no number."""
    numbers = [int(re.sub(r"[,.]", "", n)) for n in _NUMBER_RE.findall(text)]
    return max(numbers) if numbers else None


def rule_seniority_vs_company_size(values: Mapping[str, object]) -> RuleResult:
    """A VP or C-level person (by seniority or title) works at a company of 50 or more,
    unless they founded or own it."""
    name, severity = "seniority_vs_company_size", Severity.WARNING
    title = _text(values, "title").lower()
    seniority = _text(values, "seniority").lower()
    size_text = _text(values, "company_size")
    if not size_text:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "no company size")
    size = parse_company_size(size_text)
    if size is None:
        return RuleResult(
            name, Outcome.NOT_APPLICABLE, severity, f"company size {size_text!r} has no number"
        )
    senior = seniority in _SENIOR_SENIORITIES or bool(_SENIOR_TITLE_RE.search(title))
    if not senior:
        return RuleResult(name, Outcome.NOT_APPLICABLE, severity, "not a VP or C-level role")
    if _FOUNDER_RE.search(title) or seniority in {"founder", "owner"}:
        return RuleResult(name, Outcome.PASSED, severity, "founders lead companies of any size")
    role = title or seniority
    if size >= SENIOR_MIN_COMPANY_SIZE:
        return RuleResult(name, Outcome.PASSED, severity, f"{role!r} at {size_text} employees")
    return RuleResult(
        name,
        Outcome.FAILED,
        severity,
        f"{role!r} at a company of {size_text} (< {SENIOR_MIN_COMPANY_SIZE})",
    )


ACCURACY_RULES = (rule_email_format, rule_phone_format, rule_linkedin_format)
CONSISTENCY_RULES = (
    rule_email_company_consistency,
    rule_name_email_consistency,
    rule_seniority_vs_company_size,
)


# --- dimensions ----------------------------------------------------------------------------


def _rules_score(results: list[RuleResult]) -> float:
    applicable = [r for r in results if r.outcome != Outcome.NOT_APPLICABLE]
    total = sum(SEVERITY_WEIGHT[r.severity] for r in applicable)
    if not total:
        return 0.0
    passed = sum(SEVERITY_WEIGHT[r.severity] for r in applicable if r.outcome == Outcome.PASSED)
    return 100 * passed / total


def completeness(values: Mapping[str, object]) -> float:
    def share(groups: tuple[tuple[str, ...], ...]) -> float:
        return sum(any(_text(values, f) for f in group) for group in groups) / len(groups)

    return 100 * (
        REQUIRED_SHARE * share(REQUIRED_FIELDS) + (1 - REQUIRED_SHARE) * share(OPTIONAL_FIELDS)
    )


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def freshness(found_at: datetime, now: datetime) -> float:
    """100 for a value found within FRESH_DAYS, 0 after STALE_DAYS, linear between."""
    age_days = (now - found_at).total_seconds() / 86400
    if age_days <= FRESH_DAYS:
        return 100.0
    if age_days >= STALE_DAYS:
        return 0.0
    return 100 * (STALE_DAYS - age_days) / (STALE_DAYS - FRESH_DAYS)


def _present_evidence(
    values: Mapping[str, object], evidence: Mapping[str, Mapping[str, object]]
) -> list[Mapping[str, object]]:
    # Evidence for a value no longer present (erased, overwritten by hand) says nothing.
    return [e for field, e in evidence.items() if _text(values, field) and isinstance(e, Mapping)]


def timeliness(
    values: Mapping[str, object], evidence: Mapping[str, Mapping[str, object]], now: datetime
) -> float:
    dates = [
        d for e in _present_evidence(values, evidence) if (d := _as_datetime(e.get("found_at")))
    ]
    return sum(freshness(d, now) for d in dates) / len(dates) if dates else 0.0


def source_confidence(
    values: Mapping[str, object], evidence: Mapping[str, Mapping[str, object]]
) -> float:
    scores = []
    for entry in _present_evidence(values, evidence):
        raw = entry.get("confidence")
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            scores.append(min(100.0, max(0.0, float(raw))))
    return sum(scores) / len(scores) if scores else 0.0


def assess(
    values: Mapping[str, object],
    evidence: Mapping[str, Mapping[str, object]] | None = None,
    *,
    now: datetime | None = None,
) -> QualityReport:
    """Score one contact. ``values`` maps canonical field names to values; ``evidence`` maps
    field names to ``{"source", "confidence" (0-100), "found_at" (datetime or ISO 8601)}``."""
    evidence = evidence or {}
    now = now or datetime.now(UTC)
    accuracy_rules = [rule(values) for rule in ACCURACY_RULES]
    consistency_rules = [rule(values) for rule in CONSISTENCY_RULES]
    raw = {
        "accuracy": _rules_score(accuracy_rules),
        "completeness": completeness(values),
        "consistency": _rules_score(consistency_rules),
        "timeliness": timeliness(values, evidence, now),
        "confidence": source_confidence(values, evidence),
    }
    score = round(sum(raw[name] * weight for name, weight in WEIGHTS.items()))
    return QualityReport(
        score=score,
        dimensions={name: round(value) for name, value in raw.items()},
        rules=(*accuracy_rules, *consistency_rules),
    )
