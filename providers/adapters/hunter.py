"""Hunter.io: email finder, email verifier and domain search.

Official documentation: https://hunter.io/api-documentation/v2

Facts this adapter relies on (from that page):

- Base ``https://api.hunter.io/v2/``; the key goes in the ``X-API-KEY`` header (the
  ``api_key`` query parameter would put it into URLs and logs).
- ``GET /email-finder`` (``domain`` or ``company``, ``first_name`` + ``last_name``) →
  ``data.email``, ``data.score`` 0-100, ``data.verification.status``, ``data.position`` ...
- ``GET /email-verifier?email=`` → ``data.status`` (valid | invalid | accept_all | webmail |
  disposable | unknown) and ``data.score``. **202** = verification still in progress ("make the
  same verification again"); **222** = the remote SMTP server failed, outside Hunter's control.
- ``GET /domain-search`` → ``data.emails[]`` and ``data.pattern`` (``{first}.{last}``), which
  feeds pattern learning.
- Errors are ``{"errors": [{"id", "code", "details"}]}``. Unusual statuses: **403 means the
  rate limit** was reached (temporary), **429 means the plan's usage limit** (quota exhausted),
  451 means the person asked Hunter to stop processing their data (we treat it as no match).
- Billing: a request counts only when an email is returned; domain search counts one request
  per 1-10 emails; verifications with status accept_all or unknown are not counted.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, ClassVar

from providers.adapters.base import (
    Adapter,
    EmailStatus,
    HttpResponse,
    Operation,
    OperationSpec,
    ProviderResult,
    Transport,
    build_fields,
    email_confidence,
    verdict_confidence,
)
from providers.adapters.values import (
    clamp_confidence,
    dig,
    ensure_mapping,
    first_str,
    parse_retry_after,
)
from providers.errors import ProviderError, ProviderFailure, TemporaryError

_STATUS = {
    "valid": EmailStatus.VALID,
    "invalid": EmailStatus.INVALID,
    "accept_all": EmailStatus.CATCH_ALL,
    "webmail": EmailStatus.WEBMAIL,
    "disposable": EmailStatus.DISPOSABLE,
    "unknown": EmailStatus.UNKNOWN,
}
# Verifications Hunter does not count (its help centre: "only if the status is not Risky or
# Accept all"; unknown results are not charged either).
_FREE_VERDICTS = frozenset({EmailStatus.CATCH_ALL, EmailStatus.UNKNOWN})
_PERSON_OUTPUTS = (
    "email",
    "email_status",
    "email_score",
    "first_name",
    "last_name",
    "full_name",
    "title",
    "linkedin_url",
    "phone",
    "company_name",
    "domain",
)


def _status(value: Any) -> EmailStatus:
    return _STATUS.get(str(value or "").lower(), EmailStatus.UNKNOWN)


class HunterAdapter(Adapter):
    slug = "hunter"
    label = "Hunter"
    docs_url = "https://hunter.io/api-documentation/v2"
    default_base_url = "https://api.hunter.io/v2"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=("linkedin_url",),
            outputs=_PERSON_OUTPUTS,
            # Starter plan: $49 for 2,000 requests.
            cost=Decimal("0.025"),
            one_of=(("domain", "company_name"),),
        ),
        Operation.VERIFY_EMAIL: OperationSpec(
            required=("email",),
            optional=(),
            outputs=("email", "email_status", "email_score"),
            # A verification is half a request.
            cost=Decimal("0.0125"),
        ),
        Operation.SEARCH_PEOPLE: OperationSpec(
            required=(),
            optional=("seniority", "department", "limit"),
            outputs=("emails", "people", "company_name", "domain", "industry"),
            cost=Decimal("0.025"),
            one_of=(("domain", "company_name"),),
        ),
    }
    status_overrides: ClassVar[dict[int, tuple[type[ProviderError], str]]] = {
        403: (TemporaryError, "rate_limited"),
        429: (ProviderFailure, "quota_exhausted"),
        451: (ProviderFailure, "not_found"),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.require_credential("api_key")}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op is Operation.FIND_EMAIL:
            return self._find_email(inputs, transport)
        if op is Operation.VERIFY_EMAIL:
            return self._verify_email(inputs, transport)
        return self._domain_search(inputs, transport)

    def _company_params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        # Hunter prefers the domain and ignores the company when both are given.
        if inputs.get("domain"):
            return {"domain": inputs["domain"]}
        return {"company": inputs["company_name"]}

    def _find_email(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        params = {
            **self._company_params(inputs),
            "first_name": inputs["first_name"],
            "last_name": inputs["last_name"],
        }
        linkedin = inputs.get("linkedin_url", "")
        if "/in/" in linkedin:
            params["linkedin_handle"] = linkedin.split("/in/", 1)[1].strip("/")
        response, body = self.fetch_json(transport, "GET", "email-finder", params=params)
        data = dig(body, "data") or {}
        email = first_str(data.get("email"))
        if not email:
            return self.no_match(body, http_status=response.status)
        status = _status(dig(data, "verification", "status"))
        score = data.get("score")
        person = 80  # Hunter echoes the name it was asked for, so names say little new.
        fields = build_fields(
            {
                "email": (email.lower(), email_confidence(status, score)),
                "email_status": (status.value, verdict_confidence(status)),
                "email_score": (score, 100),
                "first_name": (first_str(data.get("first_name")), person),
                "last_name": (first_str(data.get("last_name")), person),
                "title": (first_str(data.get("position")), 70),
                "linkedin_url": (first_str(data.get("linkedin_url")), 70),
                "phone": (first_str(data.get("phone_number")), 60),
                "company_name": (first_str(data.get("company")), 80),
                "domain": (first_str(data.get("domain")), 95),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self.cost_for(Operation.FIND_EMAIL),
            http_status=response.status,
            extra={
                "provider_status": dig(data, "verification", "status"),
                "accept_all": data.get("accept_all"),
                "sources": len(data.get("sources") or []),
            },
        )

    def _verify_email(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        params = {"email": inputs["email"]}
        response = self.request(transport, "GET", "email-verifier", params=params)
        if response.status == 202:
            # Hunter: "make the same verification again, it will only count as a single
            # request". Once is enough inside a call; after that the client's retry with
            # backoff is the right tool, not a busy loop here.
            response = self.request(transport, "GET", "email-verifier", params=params)
            if response.status == 202:
                raise TemporaryError(
                    "timeout",
                    "Hunter is still verifying this address; try again later",
                    http_status=202,
                    retry_after=_retry_after(response, default=30.0),
                )
        if response.status == 222:
            # The remote mail server misbehaved: an answer ("we cannot tell"), not an error.
            body = _json_or_none(response)
            return ProviderResult(
                found=True,
                fields=build_fields(
                    {
                        "email": (inputs["email"], 100),
                        "email_status": (
                            EmailStatus.UNKNOWN.value,
                            verdict_confidence(EmailStatus.UNKNOWN),
                        ),
                    }
                ),
                raw=body,
                cost=Decimal(0),
                http_status=222,
                extra={"provider_status": "smtp_failed", "verification_failed": True},
            )
        self.raise_for_status(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        data = dig(body, "data")
        if not isinstance(data, dict) or not data.get("status"):
            raise ProviderFailure(
                "malformed_response",
                "Hunter's verification has no status",
                http_status=response.status,
            )
        status = _status(data["status"])
        fields = build_fields(
            {
                "email": (first_str(data.get("email")) or inputs["email"], 100),
                "email_status": (status.value, verdict_confidence(status)),
                "email_score": (data.get("score"), 100),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=Decimal(0) if status in _FREE_VERDICTS else self.cost_for(Operation.VERIFY_EMAIL),
            http_status=response.status,
            extra={
                "provider_status": data["status"],
                "accept_all": data.get("accept_all"),
                "smtp_check": data.get("smtp_check"),
                "mx_records": data.get("mx_records"),
                "disposable": data.get("disposable"),
                "webmail": data.get("webmail"),
            },
        )

    def _domain_search(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        params: dict[str, Any] = {
            **self._company_params(inputs),
            "seniority": inputs.get("seniority"),
            "department": inputs.get("department"),
            "limit": inputs.get("limit", 10),
        }
        response, body = self.fetch_json(transport, "GET", "domain-search", params=params)
        data = dig(body, "data") or {}
        entries = [
            e for e in data.get("emails") or [] if isinstance(e, dict) and first_str(e.get("value"))
        ]
        domain = first_str(data.get("domain"), inputs.get("domain"))
        company = first_str(data.get("organization"))
        emails: list[dict[str, Any]] = []
        people: list[dict[str, Any]] = []
        for entry in entries:
            status = _status(dig(entry, "verification", "status"))
            confidence = clamp_confidence(entry.get("confidence"), default=email_confidence(status))
            email = entry["value"].strip().lower()
            emails.append(
                {
                    "email": email,
                    "type": entry.get("type"),
                    "first_name": first_str(entry.get("first_name")),
                    "last_name": first_str(entry.get("last_name")),
                    "email_status": status.value,
                    "confidence": confidence,
                }
            )
            if first_str(entry.get("first_name")) or first_str(entry.get("last_name")):
                first, last = first_str(entry.get("first_name")), first_str(entry.get("last_name"))
                people.append(
                    {
                        "first_name": first,
                        "last_name": last,
                        "full_name": " ".join(p for p in (first, last) if p) or None,
                        "email": email,
                        "email_status": status.value,
                        "title": first_str(entry.get("position")),
                        "seniority": first_str(entry.get("seniority")),
                        "department": first_str(entry.get("department")),
                        "linkedin_url": first_str(entry.get("linkedin")),
                        "phone": first_str(entry.get("phone_number")),
                        "company_name": company,
                        "domain": domain,
                        "confidence": confidence,
                    }
                )
        pattern = first_str(data.get("pattern"))
        if not emails and not pattern:
            return self.no_match(body, http_status=response.status)
        mean = round(sum(e["confidence"] for e in emails) / len(emails)) if emails else 0
        fields = build_fields(
            {
                "emails": (emails, mean),
                "people": (people, mean),
                "company_name": (company, 85),
                "domain": (domain, 95),
                "industry": (first_str(data.get("industry")), 60),
            }
        )
        # One request per started block of ten emails returned; nothing when none came back.
        blocks = math.ceil(len(emails) / 10)
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self.cost_for(Operation.SEARCH_PEOPLE) * blocks,
            http_status=response.status,
            extra={
                "pattern": pattern,
                "accept_all": data.get("accept_all"),
                "webmail": data.get("webmail"),
                "total": dig(body, "meta", "results"),
            },
        )


def _retry_after(response: HttpResponse, *, default: float) -> float:
    parsed = parse_retry_after(response.headers.get("Retry-After"))
    return default if parsed is None else parsed


def _json_or_none(response: HttpResponse) -> Any:
    try:
        return response.json()
    except ProviderFailure:
        return None
