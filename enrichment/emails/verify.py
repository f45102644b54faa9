"""Bulk email verification: syntax, domain flags, MX, optional SMTP, then a score.

:func:`verify_emails` is what ``manage.py verify_emails`` and the verification jobs call. It
works in chunks: each chunk's addresses are syntax-checked, every distinct domain is looked up
once (concurrently, see :meth:`MxResolver.resolve_many`), addresses are optionally probed over
SMTP one connection per domain, and each address is scored by
:func:`enrichment.emails.scoring.score_email`. Results come out in input order, one per input
row, and a bad row (not an address, not even a string) gives an ``invalid`` result with a
reason instead of an exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from enrichment.emails.domains import (
    SyntaxResult,
    check_syntax,
    is_disposable,
    is_free_mail,
    is_role_account,
)
from enrichment.emails.mx import MxResolver, MxResult, MxStatus
from enrichment.emails.scoring import EmailEvidence, EmailScore, EmailStatus, score_email
from enrichment.emails.smtp import DomainProbe, SmtpProber
from enrichment.emails.smtp_replies import RcptOutcome, RcptReason, RcptResult

logger = logging.getLogger(__name__)

CHUNK_SIZE = 10_000
SMTP_WORKERS = 8

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class VerificationResult:
    """One verified address. ``email`` is the input as given; ``normalized`` its canonical form
    (empty when the syntax is invalid). ``breakdown`` lists the score's factors as
    ``{"name", "points", "detail"}`` dicts, which add up to ``score``. ``retry_after`` is set
    when an SMTP probe met a temporary refusal (greylisting) worth retrying that many seconds
    later."""

    email: str
    status: str
    score: int
    mx_host: str | None
    catch_all: bool | None
    disposable: bool | None
    role: bool | None
    free_mail: bool | None
    reason: str
    breakdown: list[dict[str, Any]] = field(default_factory=list)
    normalized: str = ""
    mx_status: str | None = None
    smtp: str | None = None
    retry_after: int | None = None
    #: What the score was computed from (None when the syntax is invalid): callers that know
    #: more about an address (its pattern at the domain) score it again with that added.
    evidence: EmailEvidence | None = None


@dataclass(frozen=True)
class _DomainFlags:
    disposable: bool
    free_mail: bool


def verify_emails(
    emails: Iterable[Any],
    *,
    smtp: bool = False,
    resolver: MxResolver | None = None,
    prober: SmtpProber | None = None,
    progress: Progress | None = None,
    concurrency: int = 64,
    smtp_workers: int = SMTP_WORKERS,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[VerificationResult]:
    """Verify ``emails``, yielding one :class:`VerificationResult` per row, in order.

    ``smtp`` turns on RCPT probing (off by default: it needs outbound port 25 and care, see
    :mod:`enrichment.emails.smtp`). ``progress(done, total)`` is called after each row;
    ``total`` is None when ``emails`` has no length. ``concurrency`` bounds DNS queries in
    flight, ``smtp_workers`` the domains probed at once (each MX host has its own limit too).
    """
    resolver = resolver if resolver is not None else MxResolver()
    if smtp and prober is None:
        prober = SmtpProber(resolver=resolver)
    total = len(emails) if isinstance(emails, Sized) else None
    run = _Run(resolver, prober if smtp else None, concurrency, smtp_workers)
    done = 0
    rows = iter(emails)
    while chunk := list(islice(rows, chunk_size)):
        for result in run.verify_chunk(chunk):
            done += 1
            yield result
            if progress is not None:
                progress(done, total)


class _Run:
    """State shared by the chunks of one call: per-domain flags and a score memo."""

    def __init__(
        self,
        resolver: MxResolver,
        prober: SmtpProber | None,
        concurrency: int,
        smtp_workers: int,
    ) -> None:
        self.resolver = resolver
        self.prober = prober
        self.concurrency = concurrency
        self.smtp_workers = smtp_workers
        self._flags: dict[str, _DomainFlags] = {}
        # Addresses at one domain with no SMTP answer share the same evidence, so most rows
        # of a large file score from this memo, keyed by the evidence's fields.
        self._scores: dict[
            tuple[Any, ...], tuple[EmailEvidence, EmailScore, list[dict[str, Any]]]
        ] = {}

    def verify_chunk(self, chunk: list[Any]) -> list[VerificationResult]:
        syntax = [_check(row) for row in chunk]
        domains = {s.domain for s in syntax if s.valid}
        mx = self.resolver.resolve_many(domains, concurrency=self.concurrency) if domains else {}
        probes = self._probe(syntax, mx) if self.prober is not None else {}
        results = []
        for row, checked in zip(chunk, syntax, strict=True):
            try:
                results.append(self._result(row, checked, mx, probes))
            except Exception as exc:
                # A bug on one row must not lose the other rows of a 100k-row job.
                logger.exception("verification failed for one row")
                results.append(_failed(row, "unknown", f"verification failed: {exc}"))
        return results

    def _probe(self, syntax: list[SyntaxResult], mx: dict[str, MxResult]) -> dict[str, DomainProbe]:
        """One SMTP conversation per domain that has a mail host, several at once."""
        assert self.prober is not None
        by_domain: dict[str, list[str]] = {}
        for checked in syntax:
            if checked.valid and mx[checked.domain].accepts_mail:
                address = _smtp_address(checked)
                by_domain.setdefault(checked.domain, [])
                if address not in by_domain[checked.domain]:
                    by_domain[checked.domain].append(address)
        if not by_domain:
            return {}
        prober = self.prober
        with ThreadPoolExecutor(max_workers=min(self.smtp_workers, len(by_domain))) as pool:
            futures = {
                domain: pool.submit(prober.probe, domain, addresses, mx[domain])
                for domain, addresses in by_domain.items()
            }
            return {domain: future.result() for domain, future in futures.items()}

    def _result(
        self,
        row: Any,
        checked: SyntaxResult,
        mx: dict[str, MxResult],
        probes: dict[str, DomainProbe],
    ) -> VerificationResult:
        if not checked.valid:
            return _failed(row, EmailStatus.INVALID, checked.reason or "not an email address")
        flags = self._domain_flags(checked.domain)
        role = is_role_account(checked.local)
        domain_mx = mx[checked.domain]
        probe = probes.get(checked.domain)
        rcpt = probe.results.get(_smtp_address(checked)) if probe else None
        smtp, smtp_code = smtp_evidence(rcpt)
        catch_all = probe.catch_all if probe else None
        catch_all_probability = probe.catch_all_probability if probe else None
        key = (domain_mx.status, smtp, smtp_code, catch_all, catch_all_probability, flags, role)
        memo = self._scores.get(key)
        if memo is None:
            evidence = EmailEvidence(
                syntax_valid=True,
                mx=str(domain_mx.status),
                smtp=smtp,
                smtp_code=smtp_code,
                catch_all=catch_all,
                catch_all_probability=catch_all_probability,
                disposable=flags.disposable,
                role=role,
                free_mail=flags.free_mail,
            )
            scored = score_email(evidence)
            memo = self._scores[key] = (evidence, scored, scored.to_dict()["factors"])
        evidence, scored, factors = memo
        reason = scored.reason
        if domain_mx.status == MxStatus.UNKNOWN or (rcpt and rcpt.outcome == RcptOutcome.UNKNOWN):
            # Say why a check gave nothing: "DNS timeout" or "greylisted" is actionable.
            notes = [f"MX {domain_mx.reason}"] if domain_mx.status == MxStatus.UNKNOWN else []
            if rcpt and rcpt.outcome == RcptOutcome.UNKNOWN:
                notes.append(f"SMTP {rcpt.reason.label.lower()}")
            reason = f"{reason} ({'; '.join(notes)})"
        return VerificationResult(
            email=row,
            status=str(scored.status),
            score=scored.score,
            mx_host=domain_mx.best,
            catch_all=catch_all,
            disposable=flags.disposable,
            role=role,
            free_mail=flags.free_mail,
            reason=reason,
            breakdown=[dict(factor) for factor in factors],
            normalized=checked.normalized,
            mx_status=str(domain_mx.status),
            smtp=smtp,
            retry_after=rcpt.retry_after if rcpt else None,
            evidence=evidence,
        )

    def _domain_flags(self, domain: str) -> _DomainFlags:
        flags = self._flags.get(domain)
        if flags is None:
            flags = self._flags[domain] = _DomainFlags(is_disposable(domain), is_free_mail(domain))
        return flags


def _check(row: Any) -> SyntaxResult:
    if not isinstance(row, str):
        return SyntaxResult(valid=False, reason=f"not text ({type(row).__name__})")
    return check_syntax(row)


def _smtp_address(checked: SyntaxResult) -> str:
    # The ASCII domain: the SMTP conversation and the per-address cache use this form.
    return f"{checked.local}@{checked.domain}"


def smtp_evidence(rcpt: RcptResult | None) -> tuple[str | None, str | None]:
    """(smtp, smtp_code) for :class:`EmailEvidence` from one RCPT result.

    Scoring reads a rejection without a code, or with 5.1.x / 5.2.1, as "no such mailbox", and
    "5.2.2" as a full mailbox; anything we could not read about the mailbox (policy blocks,
    greylisting, a provider that accepts all) is "unknown", which is not evidence either way.
    """
    if rcpt is None:
        return None, None
    if rcpt.reason == RcptReason.MAILBOX_FULL:
        return "rejected", "5.2.2"
    if rcpt.outcome == RcptOutcome.ACCEPTED:
        return "accepted", rcpt.enhanced_code
    if rcpt.outcome == RcptOutcome.REJECTED:
        code = rcpt.enhanced_code
        # A provider-specific mailbox rejection (Microsoft 365's 5.4.1) is passed without its
        # code, which scoring takes as a mailbox rejection.
        mailbox_code = code if code and (code.startswith("5.1.") or code == "5.2.1") else None
        return "rejected", mailbox_code
    return "unknown", None


def _failed(row: Any, status: str, reason: str) -> VerificationResult:
    return VerificationResult(
        email=row if isinstance(row, str) else repr(row),
        status=str(status),
        score=0,
        mx_host=None,
        catch_all=None,
        disposable=None,
        role=None,
        free_mail=None,
        reason=reason,
        breakdown=[{"name": "syntax", "points": 0, "detail": reason}],
    )
