"""Prospeo: person enrichment with work email and mobile.

Official documentation: https://prospeo.io/api-docs/enrich-person
(authentication and response format: https://prospeo.io/api-docs/authentication; error codes:
https://prospeo.io/mcp-docs/errors).

Facts this adapter relies on:

- Base ``https://api.prospeo.io``, POST only, JSON, the key in the ``X-KEY`` header.
- ``POST /enrich-person`` ``{"only_verified_email", "enrich_mobile", "data": {first_name,
  last_name, full_name, linkedin_url, email, company_name, company_website}}`` →
  ``person.{first_name, last_name, full_name, linkedin_url, current_job_title, location,
  email.{email, status}, mobile.{mobile, status}}`` and ``company.{name, domain, website,
  industry, employee_count, linkedin_url}``.
- "Each response will always contain an ``error`` property": failures are
  ``{"error": true, "error_code": ...}``, on HTTP 200 or alongside 400/401/429. Codes:
  ``INSUFFICIENT_CREDITS``, ``NO_MATCH``, ``INVALID_DATAPOINTS`` (not enough identifying data),
  ``INVALID_REQUEST``, ``RATE_LIMITED``, ``INVALID_API_KEY``, ``ACCOUNT_RESTRICTED``,
  ``INTERNAL_ERROR``.
- Credits: 1 per match (10 with a mobile); nothing when no result; nothing for a record the
  account already enriched (``free_enrichment: true``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from enrichment.emails.domains import normalise_domain
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
    first_str,
    parse_retry_after,
)
from providers.errors import (
    AuthenticationError,
    ClientError,
    ProviderError,
    ProviderFailure,
    TemporaryError,
)
from providers.transforms import employee_band

_ERROR_CODES: dict[str, tuple[type[ProviderError], str]] = {
    "INSUFFICIENT_CREDITS": (ProviderFailure, "quota_exhausted"),
    "NO_MATCH": (ProviderFailure, "not_found"),
    "NO_RESULT": (ProviderFailure, "not_found"),
    "NO_RESULTS": (ProviderFailure, "not_found"),
    "INVALID_DATAPOINTS": (ClientError, "missing_field"),
    "INVALID_REQUEST": (ClientError, "invalid_request"),
    "RATE_LIMITED": (TemporaryError, "rate_limited"),
    "RATE_LIMIT_EXCEEDED": (TemporaryError, "rate_limited"),
    "INVALID_API_KEY": (AuthenticationError, "invalid_key"),
    "ACCOUNT_RESTRICTED": (AuthenticationError, "suspended"),
    "INTERNAL_ERROR": (TemporaryError, "server_error"),
}
_EMAIL_STATUS = {
    "VERIFIED": EmailStatus.VALID,
    "VALID": EmailStatus.VALID,
    "CATCH_ALL": EmailStatus.CATCH_ALL,
    "ACCEPT_ALL": EmailStatus.CATCH_ALL,
    "INVALID": EmailStatus.INVALID,
}
MOBILE_CREDITS = 10
_PERSON_OUTPUTS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_status",
    "mobile_phone",
    "title",
    "linkedin_url",
    "city",
    "state",
    "country",
    "company_name",
    "domain",
    "industry",
    "company_size",
    "company_linkedin_url",
)


class ProspeoAdapter(Adapter):
    slug = "prospeo"
    label = "Prospeo"
    docs_url = "https://prospeo.io/api-docs/enrich-person"
    default_base_url = "https://api.prospeo.io"
    # Starter plan: $39 for 1,000 credits.
    credit_price: ClassVar[Decimal | None] = Decimal("0.039")
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.ENRICH_PERSON: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=_PERSON_OUTPUTS,
            cost=Decimal("0.039"),
            one_of=(("linkedin_url", "email", "full_name"),),
        ),
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=("linkedin_url",),
            outputs=_PERSON_OUTPUTS,
            cost=Decimal("0.039"),
            one_of=(("domain", "company_name"),),
        ),
        Operation.FIND_PHONE: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=("mobile_phone",),
            cost=Decimal("0.39"),
            one_of=(("linkedin_url", "email", "full_name"),),
        ),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"X-KEY": self.require_credential("api_key")}

    def _raise_body_error(self, response: HttpResponse, body: Any) -> None:
        if not isinstance(body, dict) or body.get("error") is not True:
            return
        code = str(body.get("error_code") or "").upper()
        cls, our_code = _ERROR_CODES.get(code, (ProviderFailure, "malformed_response"))
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise cls(
            our_code,
            f"Prospeo error {code or 'without a code'}",
            http_status=response.status,
            retry_after=retry_after if cls is TemporaryError else None,
        )

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        data = {
            "first_name": inputs.get("first_name"),
            "last_name": inputs.get("last_name"),
            "full_name": inputs.get("full_name"),
            "linkedin_url": inputs.get("linkedin_url"),
            "email": inputs.get("email"),
            "company_name": inputs.get("company_name"),
            "company_website": inputs.get("domain"),
        }
        payload = {
            "only_verified_email": bool(self.config.get("only_verified_email", False)),
            # A mobile costs ten credits: only ask when the operation is about phones or the
            # deployment opted in.
            "enrich_mobile": op is Operation.FIND_PHONE or bool(self.config.get("enrich_mobile")),
            "data": {k: v for k, v in data.items() if v},
        }
        response = self.request(transport, "POST", "enrich-person", json=payload)
        # Prospeo's own error code is more precise than its HTTP status (400 covers NO_MATCH,
        # INVALID_DATAPOINTS and INSUFFICIENT_CREDITS alike), so read the body first.
        try:
            body = response.json()
        except ProviderFailure:
            self.raise_for_status(response)
            raise
        self._raise_body_error(response, body)
        self.raise_for_status(response)
        if not isinstance(body, dict) or not isinstance(body.get("person"), dict):
            return self.no_match(body, http_status=response.status)

        person: dict[str, Any] = body["person"]
        company = body.get("company") if isinstance(body.get("company"), dict) else {}
        location = person.get("location") if isinstance(person.get("location"), dict) else {}
        email_obj = person.get("email") if isinstance(person.get("email"), dict) else {}
        mobile_obj = person.get("mobile") if isinstance(person.get("mobile"), dict) else {}
        email = first_str(email_obj.get("email"))
        if email and "@" not in email:
            email = None  # masked values ("j***@acme.com" without reveal) are not addresses
        raw_email_status = str(email_obj.get("status") or "").upper()
        status = _EMAIL_STATUS.get(raw_email_status, EmailStatus.UNKNOWN)
        mobile = first_str(mobile_obj.get("mobile")) if mobile_obj.get("revealed", True) else None
        company_domain = first_str(company.get("domain")) or (
            normalise_domain(company["website"]) if first_str(company.get("website")) else None
        )
        fields = build_fields(
            {
                "first_name": (first_str(person.get("first_name")), 90),
                "last_name": (first_str(person.get("last_name")), 90),
                "full_name": (first_str(person.get("full_name")), 90),
                "email": (email.lower() if email else None, email_confidence(status)),
                "email_status": (status.value if email else None, verdict_confidence(status)),
                "mobile_phone": (mobile, 80),
                "title": (first_str(person.get("current_job_title")), 80),
                "linkedin_url": (first_str(person.get("linkedin_url")), 90),
                "city": (first_str(location.get("city")), 70),
                "state": (first_str(location.get("state")), 70),
                "country": (first_str(location.get("country")), 75),
                "company_name": (first_str(company.get("name")), 85),
                "domain": (company_domain, 90),
                "industry": (first_str(company.get("industry")), 70),
                "company_size": (
                    employee_band(company.get("employee_count"))
                    or employee_band(company.get("employee_range")),
                    70,
                ),
                "company_linkedin_url": (first_str(company.get("linkedin_url")), 85),
            }
        )
        if op is Operation.FIND_EMAIL:
            found = "email" in fields
        elif op is Operation.FIND_PHONE:
            found = "mobile_phone" in fields
            fields = {k: v for k, v in fields.items() if k == "mobile_phone"}
        else:
            found = True
        credits = 0 if body.get("free_enrichment") else (MOBILE_CREDITS if mobile else 1)
        return ProviderResult(
            found=found,
            fields=fields if found else {},
            raw=body,
            # Prospeo bills the match, whether or not it holds the field this operation wanted.
            cost=self.credits_cost(credits),
            http_status=response.status,
            extra={
                "provider_status": raw_email_status or None,
                "free_enrichment": bool(body.get("free_enrichment")),
                "person_id": person.get("person_id"),
            },
        )
