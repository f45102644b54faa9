"""Finding a person's work email: rank the name's permutations by the domain's learned
pattern, check the domain's mail servers, optionally probe the best few candidates over
SMTP, and score the pick with its reasons.

:func:`find_emails` works on a batch so that every distinct domain is looked up once and
probed on one connection; :func:`find_email` is the one-person convenience. Pure apart from
the network calls the resolver and prober make; the database side (where known addresses and
learned patterns come from, where results go) is in :mod:`enrichment.services`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from enrichment.emails.calibration import calibrate
from enrichment.emails.domains import (
    InvalidDomain,
    clean_domain,
    is_disposable,
    is_free_mail,
    is_role_account,
)
from enrichment.emails.mx import MxResolver, MxResult, MxStatus
from enrichment.emails.names import ParsedName
from enrichment.emails.patterns import DomainPattern
from enrichment.emails.permutations import PRIORS, Candidate, variant_probabilities
from enrichment.emails.scoring import EmailEvidence, EmailScore, score_email
from enrichment.emails.smtp import DomainProbe, SmtpProber
from enrichment.emails.smtp_replies import RcptOutcome
from enrichment.emails.templates import EMPTY_MODEL, SIMPLE_NAMES, template_candidates
from enrichment.emails.verify import smtp_evidence

#: Candidates probed per person when SMTP is on: beyond the top few the chance that a lower
#: one is right is small, and every RCPT costs the target server (and our reputation).
PROBE_CANDIDATES = 3
#: Candidates returned with each guess, for the review page and the API.
SHOWN_CANDIDATES = 5


@dataclass(frozen=True)
class FinderRequest:
    parsed: ParsedName
    domain: str


@dataclass(frozen=True)
class FoundEmail:
    """The pick for one person, with the evidence behind it."""

    email: str
    pattern: str
    probability: float
    score: int
    status: str
    reason: str
    breakdown: list[dict[str, Any]]
    mx_host: str | None
    mx_status: str
    smtp: str | None
    catch_all: bool | None
    domain_pattern: str
    domain_pattern_support: int
    domain_pattern_share: float
    candidates: list[dict[str, Any]] = field(default_factory=list)
    retry_after: int | None = None

    @property
    def tried(self) -> list[str]:
        return [c["email"] for c in self.candidates]


@dataclass(frozen=True)
class FinderFailure:
    reason: str


def find_emails(
    requests: Sequence[FinderRequest],
    *,
    patterns: Mapping[str, DomainPattern] | None = None,
    resolver: MxResolver | None = None,
    prober: SmtpProber | None = None,
    smtp: bool = False,
    concurrency: int = 64,
) -> list[FoundEmail | FinderFailure]:
    """One result per request, in order. ``patterns`` maps a domain to its learned pattern."""
    patterns = patterns or {}
    resolver = resolver if resolver is not None else MxResolver()
    if smtp and prober is None:
        prober = SmtpProber(resolver=resolver)

    ranked: list[tuple[str, list[Candidate]] | FinderFailure] = []
    for request in requests:
        try:
            domain = clean_domain(request.domain)
        except (InvalidDomain, ValueError) as exc:
            ranked.append(FinderFailure(f"bad domain: {exc}"))
            continue
        if is_free_mail(domain):
            ranked.append(FinderFailure(f"{domain} is a webmail domain, not a company's"))
            continue
        candidates = rank_candidates(request.parsed, domain, patterns.get(domain))
        if not candidates:
            ranked.append(FinderFailure("no address can be built from this name"))
            continue
        ranked.append((domain, candidates))

    domains = {r[0] for r in ranked if not isinstance(r, FinderFailure)}
    mx = resolver.resolve_many(domains, concurrency=concurrency) if domains else {}
    probes = _probe(ranked, mx, prober) if smtp and prober is not None else {}

    results: list[FoundEmail | FinderFailure] = []
    for item in ranked:
        if isinstance(item, FinderFailure):
            results.append(item)
            continue
        domain, candidates = item
        results.append(
            _pick(domain, candidates, mx[domain], probes.get(domain), patterns.get(domain))
        )
    return results


def find_email(parsed: ParsedName, domain: str, **kwargs: Any) -> FoundEmail | FinderFailure:
    return find_emails([FinderRequest(parsed, domain)], **kwargs)[0]


def _probe(ranked: list, mx: Mapping[str, MxResult], prober: SmtpProber) -> dict[str, DomainProbe]:
    by_domain: dict[str, list[str]] = {}
    for item in ranked:
        if isinstance(item, FinderFailure) or not mx[item[0]].accepts_mail:
            continue
        domain, candidates = item
        wanted = by_domain.setdefault(domain, [])
        for candidate in candidates[:PROBE_CANDIDATES]:
            if candidate.email not in wanted:
                wanted.append(candidate.email)
    if not by_domain:
        return {}
    with ThreadPoolExecutor(max_workers=min(8, len(by_domain))) as pool:
        futures = {
            d: pool.submit(prober.probe, d, emails, mx[d]) for d, emails in by_domain.items()
        }
        return {d: f.result() for d, f in futures.items()}


def pattern_evidence(candidate: Candidate, learned: DomainPattern | None) -> dict[str, Any]:
    """The scoring inputs a guess gets from the domain's learned pattern (or the prior)."""
    # The scores speak of the chance that the guess is right, as measured on the benchmark.
    chance = calibrate(candidate.probability)
    if learned is None or learned.examples <= 0:
        # Without evidence at the domain the candidate's chance comes from the prior alone;
        # scoring then says "global prior", not "learned".
        return {
            "pattern_probability": None,
            "pattern_support": 0,
            "prior": chance,
        }
    return {
        "pattern_probability": chance,
        "pattern_support": round(learned.support_for(candidate.pattern)),
        "prior": min(1.0, candidate.prior),
    }


def guess_evidence(
    parsed: ParsedName, email: str, learned: DomainPattern | None
) -> dict[str, Any] | None:
    """:func:`pattern_evidence` for a stored guess ``email`` of ``parsed``; None when the
    name's candidates at its domain no longer include it (the name was edited, say)."""
    domain = email.rpartition("@")[2].lower()
    for candidate in rank_candidates(parsed, domain, learned):
        if candidate.email == email.lower():
            return pattern_evidence(candidate, learned)
    return None


def _pick(
    domain: str,
    candidates: list[Candidate],
    mx: MxResult,
    probe: DomainProbe | None,
    learned: DomainPattern | None,
) -> FoundEmail:
    """Score the probed candidates and keep the best; unprobed, the most probable one."""
    considered = candidates[:PROBE_CANDIDATES] if probe is not None else candidates[:1]
    disposable = is_disposable(domain)
    scored: list[tuple[Candidate, EmailScore, str | None, int | None]] = []
    for candidate in considered:
        rcpt = probe.results.get(candidate.email) if probe is not None else None
        smtp, smtp_code = smtp_evidence(rcpt)
        evidence = EmailEvidence(
            syntax_valid=True,
            **pattern_evidence(candidate, learned),
            mx=str(mx.status),
            smtp=smtp,
            smtp_code=smtp_code,
            catch_all=probe.catch_all if probe else None,
            catch_all_probability=probe.catch_all_probability if probe else None,
            disposable=disposable,
            role=is_role_account(candidate.local_part),
            free_mail=False,
        )
        retry = (
            rcpt.retry_after if rcpt is not None and rcpt.outcome == RcptOutcome.UNKNOWN else None
        )
        scored.append((candidate, score_email(evidence), smtp, retry))
    # Highest score wins; ties keep probability order (sorted is stable).
    best, score, smtp, retry = sorted(scored, key=lambda s: -s[1].score)[0]
    reason = score.reason
    if mx.status == MxStatus.UNKNOWN:
        reason = f"{reason} (MX {mx.reason})"
    return FoundEmail(
        email=best.email,
        pattern=best.pattern,
        probability=round(best.probability, 4),
        score=score.score,
        status=str(score.status),
        reason=reason,
        breakdown=score.to_dict()["factors"],
        mx_host=mx.best,
        mx_status=str(mx.status),
        smtp=smtp,
        catch_all=probe.catch_all if probe else None,
        domain_pattern=learned.top if learned and learned.examples else "",
        domain_pattern_support=learned.support if learned else 0,
        domain_pattern_share=round(learned.share, 3) if learned else 0.0,
        candidates=[
            {"email": c.email, "pattern": c.pattern, "probability": round(c.probability, 4)}
            for c in candidates[:SHOWN_CANDIDATES]
        ],
        retry_after=retry,
    )


def rank_candidates(
    parsed: ParsedName, domain: str, learned: DomainPattern | None
) -> list[Candidate]:
    """The candidate addresses for one person at ``domain``, most probable first: the
    domain's learned templates applied to this name (:mod:`enrichment.emails.templates`)."""
    domain = domain.strip().lower().rstrip(".")
    if not domain or "@" in domain or " " in domain:
        raise ValueError(f"not a domain: {domain!r}")
    model = learned.templates if learned is not None else EMPTY_MODEL
    weights = learned.variant_weights() if learned is not None else None
    ranked = template_candidates(parsed, model, variant_probabilities(parsed, weights))
    return [
        Candidate(
            email=f"{c.local_part}@{domain}",
            local_part=c.local_part,
            pattern=SIMPLE_NAMES.get(c.template, c.template),
            prior=PRIORS.get(SIMPLE_NAMES.get(c.template, ""), 0.0),
            probability=c.probability,
            patterns=(SIMPLE_NAMES.get(c.template, c.template),),
            variant=c.variant,
        )
        for c in ranked
    ]


def guess_score(candidate: Candidate, learned: DomainPattern | None) -> int:
    """The confidence of an unprobed guess at a domain whose MX records are present."""
    evidence = EmailEvidence(
        syntax_valid=True, mx="present", **pattern_evidence(candidate, learned)
    )
    return score_email(evidence).score
