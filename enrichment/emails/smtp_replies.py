"""What a mail server's replies to ``RCPT TO`` mean: pure functions, no network.

Replies are read by their reply code (RFC 5321 §4.2) and their RFC 3463 enhanced status code,
never by their English text, which differs from one server (and one language) to the next.
:mod:`enrichment.emails.smtp` holds the prober that has the conversations.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from django.db import models

from enrichment.emails.mx import MxResult

# Greylisting (the usual implementations hold a first attempt for 1 to 5 minutes): the first
# retry waits 5 minutes, then doubles, capped at one hour; after GREYLIST_MAX_ATTEMPTS the
# caller keeps the "unknown" verdict.
GREYLIST_FIRST_DELAY = 300
GREYLIST_MAX_DELAY = 3600
GREYLIST_MAX_ATTEMPTS = 5

# MX host suffixes of providers that accept any RCPT at the SMTP stage and bounce later.
# Google (aspmx.l.google.com) does reject unknown mailboxes at RCPT and is not listed.
ACCEPT_ALL_PROVIDERS: tuple[tuple[str, str], ...] = (
    (".mail.protection.outlook.com", "Microsoft 365"),
    (".yahoodns.net", "Yahoo"),
)
MICROSOFT_365 = "Microsoft 365"

# RFC 3463 §3.2: X.1.0 other address status, X.1.1 bad destination mailbox, X.1.2 bad
# destination system, X.1.3 bad mailbox syntax, X.1.6 mailbox moved with no forwarding; X.1.10
# is RFC 7505's "recipient address has null MX".
_MAILBOX_UNKNOWN = frozenset({"5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10"})

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$|[^\d.])")


class RcptOutcome(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    UNKNOWN = "unknown", "Unknown"


class RcptReason(models.TextChoices):
    """Why an outcome is what it is, in a form code can branch on."""

    MAILBOX_EXISTS = "mailbox_exists", "Mailbox accepted"
    MAILBOX_FULL = "mailbox_full", "Mailbox full"
    MAILBOX_UNKNOWN = "mailbox_unknown", "Mailbox does not exist"
    MAILBOX_DISABLED = "mailbox_disabled", "Mailbox disabled"
    POLICY = "policy", "Refused by policy (our IP or sender may be blocked)"
    TEMPORARY = "temporary", "Temporary failure (greylisting, rate limit)"
    CONNECTION = "connection", "Could not connect, or the connection dropped"
    CATCH_ALL = "catch_all", "Domain accepts any address"
    PROVIDER_ACCEPTS_ALL = "provider_accepts_all", "Provider accepts any address at RCPT"
    PROTOCOL = "protocol", "Unexpected reply"
    NO_MX = "no_mx", "Domain has no mail host"
    OFFLINE = "offline", "Offline mode"


@dataclass(frozen=True)
class RcptResult:
    outcome: RcptOutcome
    code: int | None = None
    enhanced_code: str | None = None
    message: str = ""
    retry_after: int | None = None
    reason: RcptReason = RcptReason.PROTOCOL

    def to_cache(self) -> dict[str, Any]:
        # Plain strings, not the enums: a cached entry must outlive refactors of this module.
        return {**asdict(self), "outcome": str(self.outcome), "reason": str(self.reason)}

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> RcptResult:
        outcome, reason = RcptOutcome(data["outcome"]), RcptReason(data["reason"])
        return cls(**{**data, "outcome": outcome, "reason": reason})


def greylist_retry_delay(attempt: int) -> int:
    """Seconds to wait before retry number ``attempt`` (0 for the first retry) of a probe that
    got a temporary (4xx) reply: 300, 600, 1200, 2400, then 3600. A fixed policy, not the
    server's text: RFC 5321 gives 4xx replies no machine-readable delay."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    return min(GREYLIST_FIRST_DELAY * 2 ** min(attempt, 16), GREYLIST_MAX_DELAY)


def parse_enhanced_code(text: str) -> str | None:
    """The RFC 3463 enhanced status code ("class.subject.detail") opening a reply's text."""
    first_line = text.splitlines()[0] if text else ""
    match = _ENHANCED.match(first_line)
    if match is None:
        return None
    return ".".join(str(int(part)) for part in match.groups())


def classify_reply(code: int, message: str, *, provider: str | None = None) -> RcptResult:
    """What a reply to ``RCPT TO`` says about the mailbox.

    The reply code decides the class (RFC 5321 §4.2.1); the enhanced code (RFC 3463), when its
    class agrees, refines it. ``provider`` enables provider-specific readings that the codes
    alone cannot carry (Microsoft 365's directory-based edge blocking answers 5.4.1 for a
    mailbox that does not exist).
    """
    enhanced = parse_enhanced_code(message)
    if enhanced is not None and enhanced[0] != str(code)[0]:
        # RFC 3463 §2: the classes must agree; a server that mixes them is not to be trusted
        # on the detail, so fall back to the reply code alone.
        enhanced = None

    def result(outcome: RcptOutcome, reason: RcptReason, retry: int | None = None) -> RcptResult:
        return RcptResult(outcome, code, enhanced, message, retry, reason)

    if code in (250, 251):
        return result(RcptOutcome.ACCEPTED, RcptReason.MAILBOX_EXISTS)
    if 400 <= code < 500:
        # 421 closes the channel, 450/451/452 and every 4.x.x are temporary: greylisting,
        # rate limits, a full queue. Nothing is known about the mailbox yet.
        return result(RcptOutcome.UNKNOWN, RcptReason.TEMPORARY, greylist_retry_delay(0))
    if 500 <= code < 600:
        if enhanced is not None:
            if enhanced in _MAILBOX_UNKNOWN:
                return result(RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN)
            if enhanced == "5.2.1":
                return result(RcptOutcome.REJECTED, RcptReason.MAILBOX_DISABLED)
            if enhanced == "5.2.2":
                # The mailbox exists; mail to it bounces until its owner makes room.
                return result(RcptOutcome.ACCEPTED, RcptReason.MAILBOX_FULL)
            if enhanced.startswith("5.7."):
                # Security or policy: usually our IP or HELO is blocked; says nothing about
                # the mailbox, so never "invalid".
                return result(RcptOutcome.UNKNOWN, RcptReason.POLICY)
            if enhanced == "5.4.1" and provider == MICROSOFT_365:
                return result(RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN)
            if enhanced.startswith("5.1."):
                # 5.1.7/5.1.8 are about our sender address, 5.1.x others are rare: policy.
                return result(RcptOutcome.UNKNOWN, RcptReason.POLICY)
            return result(RcptOutcome.UNKNOWN, RcptReason.PROTOCOL)
        # No enhanced code: RFC 5321 §4.2.2 meanings. 550 "mailbox unavailable", 551 "user
        # not local", 553 "mailbox name not allowed" are about the mailbox; 552 is "exceeded
        # storage allocation"; 554 "transaction failed" is usually a block.
        if code in (550, 551, 553):
            return result(RcptOutcome.REJECTED, RcptReason.MAILBOX_UNKNOWN)
        if code == 552:
            return result(RcptOutcome.ACCEPTED, RcptReason.MAILBOX_FULL)
        if code == 554:
            return result(RcptOutcome.UNKNOWN, RcptReason.POLICY)
    return result(RcptOutcome.UNKNOWN, RcptReason.PROTOCOL)


def accepts_all_provider_for(mx: MxResult) -> str | None:
    """The name of the provider behind ``mx`` if it accepts every RCPT, else None."""
    best = mx.best
    if best is None:
        return None
    host = best.lower().rstrip(".")
    for suffix, name in ACCEPT_ALL_PROVIDERS:
        if host.endswith(suffix):
            return name
    return None
