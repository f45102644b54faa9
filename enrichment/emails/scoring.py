"""The confidence score (0-100) of an email address, built from named factors.

:func:`score_email` takes what we know about an address (:class:`EmailEvidence`) and returns an
:class:`EmailScore`: the score, a status, the list of factors with their points (they always
add up to the score) and a one-line reason. ``EmailScore.breakdown_as_text()`` answers the user's
question "why 72?".

Statuses (thresholds are a public contract, see the seed): ``verified`` at 80 and above,
``unknown`` from 50 to 79, ``risky`` below 50, and ``invalid`` (score 0) for definite failures:
invalid syntax, a null MX (RFC 7505), a domain that does not exist (NXDOMAIN), an SMTP rejection
of the mailbox (no code, 5.1.x or 5.2.1), a provider that says invalid, or a bounce. A timeout,
a DNS failure, greylisting or any 4.x.x reply is never invalid: it is simply not evidence.

Factors and their points:

``syntax``
    +50 for a syntactically valid address: the neutral starting point, "could be real".
``mx``
    +10 MX records present; -5 no MX but an A/AAAA record (mail would go to the web server,
    which often does not take mail); 0 when the lookup failed (``unknown``) or was not made.
``pattern``
    ``round((100 × p − 60) × (1 − c))``, where *p* is the chance that the guessed address is
    right (the finder's calibrated probability: learned at the domain, else from the global
    prior) and *c* the mailbox certainty below. With MX present an unchecked guess scores
    ``100 × p``: a guess scored 70 is right about 70 % of the time on the realistic benchmark
    (``docs/BENCHMARKS.md``). Once a mailbox check is certain (c = 1) the pattern no longer
    matters. 0 for addresses not guessed from a pattern.
``pattern_support``
    0 points, for the reader: how many known addresses at the domain fit the pattern. The
    probability above already counts them.
``smtp``
    ``round(35 × c_smtp)`` when the server accepted the mailbox, where ``c_smtp = 1 − q`` and
    *q* is the probability that the domain accepts every address (``catch_all_probability``,
    else 1 or 0 from ``catch_all``, else :data:`DEFAULT_CATCH_ALL_PROBABILITY`): acceptance by a
    catch-all server proves nothing. -15 for a full mailbox (5.2.2), -10 for a permanent
    refusal that is not about the mailbox (policy, spam filter: 5.7.x...), 0 for no answer,
    greylisting or a temporary (4.x.x) reply.
``catch_all``
    ``round(-5 × q)`` when the domain is (probably) accept-all: such addresses cannot be
    verified and Hunter reports they bounce about 27 times more often than verified ones.
``provider``
    A third-party verifier's "valid" adds certainty ``c_prov = score/100`` (0.9 without a
    score); the two checks combine as ``c = 1 − (1 − c_smtp)(1 − c_prov)`` and ``provider`` gets
    ``round(35 × c) − smtp``. "accept_all" counts as catch-all evidence when we have none.
``disposable`` −40, ``role`` −10, ``free_mail`` −5
    A throw-away mailbox is not a lead; a role inbox (info@) is real but not a person; a
    webmail address may be valid but is not a work address.
``unconfirmed``
    Caps the score at 79 when no mailbox-level check confirmed the address (an SMTP acceptance
    with q ≤ 0.5, or a provider's "valid"): a pattern guess is never reported as verified.
    This departs on purpose from the seed, which scored an unchecked first.last guess 100.
``bounds``
    Keeps the score within 0-100.
``invalid``
    For definite failures: brings the score to 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

VERIFIED_THRESHOLD = 80
UNKNOWN_THRESHOLD = 50

BASE_POINTS = 50
MX_POINTS = {"present": 10, "implicit": -5, "unknown": 0}
# BASE_POINTS + MX_POINTS["present"] + PATTERN_SCALE * (p - PATTERN_NEUTRAL) == 100 * p.
PATTERN_SCALE = 100
PATTERN_NEUTRAL = 0.6
MAILBOX_POINTS = 35
CATCH_ALL_PENALTY = -5
DEFAULT_CATCH_ALL_PROBABILITY = 0.3  # share of business domains that accept every address
DEFAULT_PROVIDER_CERTAINTY = 0.9
MAILBOX_FULL_POINTS = -15
POLICY_REJECTION_POINTS = -10
DISPOSABLE_POINTS = -40
ROLE_POINTS = -10
FREE_MAIL_POINTS = -5


class EmailStatus(StrEnum):
    VERIFIED = "verified"
    UNKNOWN = "unknown"
    RISKY = "risky"
    INVALID = "invalid"


class MxResult(StrEnum):
    PRESENT = "present"  # MX records
    IMPLICIT = "implicit"  # no MX, A/AAAA fallback (RFC 5321 §5.1)
    NULL = "null"  # null MX "0 ." (RFC 7505): accepts no mail
    NONE = "none"  # NXDOMAIN: the domain does not exist
    UNKNOWN = "unknown"  # timeout, SERVFAIL: no answer


class SmtpResult(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # timeout, greylisting, connection refused


class ProviderStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    ACCEPT_ALL = "accept_all"
    UNKNOWN = "unknown"


@functools.cache
def _values(choices: type[StrEnum]) -> frozenset[str]:
    return frozenset(c.value for c in choices)


def _check_choice(name: str, value: str | None, choices: type[StrEnum]) -> None:
    if value is not None and value not in _values(choices):
        allowed = ", ".join(c.value for c in choices)
        raise ValueError(f"{name} must be one of {allowed} or None, not {value!r}")


def _check_range(name: str, value: float | None, low: float, high: float) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value!r}")


@dataclass(frozen=True)
class EmailEvidence:
    """Everything known about one address. None means "not checked" or "not known".

    ``smtp_code`` is the enhanced status code (RFC 3463, "5.1.1") of the reply behind
    ``smtp`` when there is one; a "rejected" without a code is taken as a mailbox rejection.
    """

    syntax_valid: bool | None = None
    pattern_probability: float | None = None
    pattern_support: int | None = None
    prior: float | None = None
    mx: str | None = None
    smtp: str | None = None
    smtp_code: str | None = None
    catch_all: bool | None = None
    catch_all_probability: float | None = None
    disposable: bool | None = None
    role: bool | None = None
    free_mail: bool | None = None
    provider_status: str | None = None
    provider_score: int | None = None
    bounced: bool = False

    def __post_init__(self) -> None:
        # Wrong spellings ("catchall", "timeout") would silently score as "not checked".
        _check_choice("mx", self.mx, MxResult)
        _check_choice("smtp", self.smtp, SmtpResult)
        _check_choice("provider_status", self.provider_status, ProviderStatus)
        _check_range("pattern_probability", self.pattern_probability, 0.0, 1.0)
        _check_range("prior", self.prior, 0.0, 1.0)
        _check_range("catch_all_probability", self.catch_all_probability, 0.0, 1.0)
        _check_range("provider_score", self.provider_score, 0, 100)
        if self.pattern_support is not None and self.pattern_support < 0:
            raise ValueError("pattern_support cannot be negative")


@dataclass(frozen=True)
class Factor:
    name: str
    points: int
    detail: str


@dataclass(frozen=True)
class EmailScore:
    score: int
    status: EmailStatus
    factors: list[Factor] = field(default_factory=list)
    reason: str = ""

    def breakdown_as_text(self) -> str:
        """The factors as an aligned table ending in the total, for people to read."""
        width = max((len(f.name) for f in self.factors), default=5)
        lines = [f"Score {self.score}/100 ({self.status}): {self.reason}"]
        lines += [f"  {f.points:+4d}  {f.name:<{width}}  {f.detail}" for f in self.factors]
        lines.append(f"  {self.score:4d}  total")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "status": str(self.status),
            "reason": self.reason,
            "factors": [
                {"name": f.name, "points": f.points, "detail": f.detail} for f in self.factors
            ],
        }


def status_for_score(score: int) -> EmailStatus:
    """verified (>= 80), unknown (50-79) or risky (< 50); invalid is decided by the evidence."""
    if score >= VERIFIED_THRESHOLD:
        return EmailStatus.VERIFIED
    if score >= UNKNOWN_THRESHOLD:
        return EmailStatus.UNKNOWN
    return EmailStatus.RISKY


def _is_mailbox_rejection(code: str | None) -> bool:
    """Whether a permanent rejection is about the mailbox itself (RFC 3463)."""
    return code is None or code.startswith("5.1.") or code == "5.2.1"


def _catch_all_probability(ev: EmailEvidence) -> float | None:
    if ev.catch_all_probability is not None:
        return ev.catch_all_probability
    if ev.catch_all is not None:
        return 1.0 if ev.catch_all else 0.0
    if ev.provider_status == ProviderStatus.ACCEPT_ALL:
        return 1.0
    return None


def _failures(ev: EmailEvidence) -> list[tuple[str, str]]:
    """(factor name, detail) of every definite failure in the evidence."""
    failures = []
    if ev.mx == MxResult.NULL:
        failures.append(("mx", "null MX record (RFC 7505): the domain accepts no mail"))
    elif ev.mx == MxResult.NONE:
        failures.append(("mx", "the domain does not exist (NXDOMAIN)"))
    if ev.smtp == SmtpResult.REJECTED and _is_mailbox_rejection(ev.smtp_code):
        code = f" ({ev.smtp_code})" if ev.smtp_code else ""
        failures.append(("smtp", f"the mail server rejected the mailbox{code}"))
    if ev.provider_status == ProviderStatus.INVALID:
        failures.append(("provider", "the verification provider says the address is invalid"))
    if ev.bounced:
        failures.append(("bounced", "a message to this address bounced"))
    return failures


def score_email(ev: EmailEvidence) -> EmailScore:
    """Score one address from its evidence (see the module docstring for every factor)."""
    if ev.syntax_valid is False:
        factor = Factor("syntax", 0, "not a valid email address")
        return EmailScore(0, EmailStatus.INVALID, [factor], factor.detail)

    factors: list[Factor] = []
    failures = _failures(ev)
    failed = {name for name, _ in failures}

    def add(name: str, points: int, detail: str) -> None:
        factors.append(Factor(name, points, detail))

    add(
        "syntax",
        BASE_POINTS,
        "valid address" if ev.syntax_valid else "syntax not checked, assumed valid",
    )

    # mx
    if ev.mx in MX_POINTS:
        detail = {
            "present": "MX records present",
            "implicit": "no MX record, mail would go to the A/AAAA host",
            "unknown": "DNS lookup failed or timed out: not held against the address",
        }[str(ev.mx)]
        add("mx", MX_POINTS[str(ev.mx)], detail)
    elif ev.mx is None:
        add("mx", 0, "MX not checked")
    else:
        add("mx", 0, dict(failures)["mx"])

    # Mailbox certainty: how sure the SMTP check and the provider make us that it exists.
    q = _catch_all_probability(ev)
    q_effective = DEFAULT_CATCH_ALL_PROBABILITY if q is None else q
    c_smtp = 1.0 - q_effective if ev.smtp == SmtpResult.ACCEPTED else 0.0
    c_provider = 0.0
    if ev.provider_status == ProviderStatus.VALID:
        c_provider = (
            ev.provider_score / 100 if ev.provider_score is not None else DEFAULT_PROVIDER_CERTAINTY
        )
    certainty = 1.0 - (1.0 - c_smtp) * (1.0 - c_provider)
    confirmed = (ev.smtp == SmtpResult.ACCEPTED and q_effective <= 0.5) or c_provider >= 0.5

    # pattern
    p = ev.pattern_probability if ev.pattern_probability is not None else ev.prior
    if p is None:
        add("pattern", 0, "not guessed from a pattern")
    else:
        source = "learned at this domain" if ev.pattern_probability is not None else "global prior"
        points = round(PATTERN_SCALE * (p - PATTERN_NEUTRAL) * (1.0 - certainty))
        note = ", outweighed by the mailbox check" if certainty >= 0.5 else ""
        add("pattern", points, f"{p:.0%} chance the guess is right ({source}){note}")
    if ev.pattern_probability is not None:
        support = ev.pattern_support or 0
        add(
            "pattern_support",
            0,
            f"{support} known address{'es' if support != 1 else ''} at the domain fit the "
            "pattern (counted in its probability)",
        )

    # smtp
    smtp_points = 0
    if ev.smtp == SmtpResult.ACCEPTED:
        smtp_points = round(MAILBOX_POINTS * c_smtp)
        if q is None:
            detail = "the mail server accepted the mailbox (catch-all not tested)"
        elif q_effective > 0.5:
            detail = "the mail server accepted it, but it accepts any address"
        else:
            detail = "the mail server accepted the mailbox"
        add("smtp", smtp_points, detail)
    elif ev.smtp == SmtpResult.REJECTED:
        code = ev.smtp_code or ""
        if "smtp" in failed:
            add("smtp", 0, dict(failures)["smtp"])
        elif code.startswith("4."):
            add("smtp", 0, f"temporary refusal ({code}): not held against the address")
        elif code == "5.2.2":
            add("smtp", MAILBOX_FULL_POINTS, "mailbox full (5.2.2)")
        else:
            add(
                "smtp",
                POLICY_REJECTION_POINTS,
                f"refused for a reason other than the mailbox ({code})",
            )
    elif ev.smtp == SmtpResult.UNKNOWN:
        add("smtp", 0, "no answer from the mail server (timeout or greylisting)")
    else:
        add("smtp", 0, "SMTP not probed")

    # catch_all
    if q is not None and q > 0:
        add("catch_all", round(CATCH_ALL_PENALTY * q), f"domain accepts any address ({q:.0%} sure)")
    elif q == 0:
        add("catch_all", 0, "domain rejects unknown addresses")

    # provider
    if ev.provider_status is not None:
        score_note = f", score {ev.provider_score}" if ev.provider_score is not None else ""
        if ev.provider_status == ProviderStatus.VALID:
            points = round(MAILBOX_POINTS * certainty) - smtp_points
            add("provider", points, f"verification provider says valid{score_note}")
        elif "provider" in failed:
            add("provider", 0, dict(failures)["provider"] + score_note)
        else:
            add("provider", 0, f"verification provider says {ev.provider_status}{score_note}")

    if ev.disposable:
        add("disposable", DISPOSABLE_POINTS, "disposable (throw-away) mailbox service")
    if ev.role:
        add("role", ROLE_POINTS, "role account, not a person")
    if ev.free_mail:
        add("free_mail", FREE_MAIL_POINTS, "free webmail address, not a work address")
    if ev.bounced:
        add("bounced", 0, dict(failures)["bounced"])

    subtotal = sum(f.points for f in factors)
    if failures:
        reason = "; ".join(detail for _, detail in failures)
        add("invalid", -subtotal, reason)
        return EmailScore(0, EmailStatus.INVALID, factors, reason)
    if not confirmed and subtotal >= VERIFIED_THRESHOLD:
        add(
            "unconfirmed",
            VERIFIED_THRESHOLD - 1 - subtotal,
            "capped below verified: no mailbox-level check confirmed the address",
        )
    elif subtotal > 100:
        add("bounds", 100 - subtotal, "scores stop at 100")
    elif subtotal < 0:
        add("bounds", -subtotal, "scores stop at 0")
    score = sum(f.points for f in factors)
    return EmailScore(score, status_for_score(score), factors, _reason(factors))


def _reason(factors: list[Factor]) -> str:
    """The one or two factors that moved the score most, in words."""
    movers = [f for f in factors if f.name not in {"syntax", "bounds"} and f.points != 0]
    movers.sort(key=lambda f: -abs(f.points))
    if not movers:
        return "nothing known beyond a valid address"
    return "; ".join(f.detail for f in movers[:2])
