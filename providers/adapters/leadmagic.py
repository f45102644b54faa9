"""LeadMagic: email finder and email validation.

Official documentation: https://leadmagic.io/docs/reference/email-finder
(and the OpenAPI file LeadMagic publishes at https://github.com/LeadMagic/leadmagic-openapi).

Facts this adapter relies on:

- Base ``https://api.leadmagic.io``, routes under ``/v1``; the key goes in ``X-API-Key``.
- ``POST /v1/people/email-finder`` ``{first_name, last_name, domain | company_name}`` ("Company
  Domain is always more accurate") → ``email``, ``status`` (``valid`` | ``valid_catch_all`` |
  ``not_found``), ``credits_consumed``, ``is_domain_catch_all``, and company fields
  (``company_name``, ``company_industry``, ``company_size``, ``company_location``...).
  "You only pay when we successfully find an email. No-result lookups are always free."
- ``POST /v1/people/email-validation`` ``{email}`` → ``email_status`` (``valid`` |
  ``valid_catch_all`` | ``invalid`` | ``unknown`` | ``catch_all``) and ``credits_consumed``.
- Every answer reports ``credits_consumed``. Errors are
  ``{"success": false, "errors": [{"status", "code", "title"}]}`` with 400, 401, 402 (out of
  credits), 404, 429, 500.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from providers.adapters.base import (
    Adapter,
    EmailStatus,
    Operation,
    OperationSpec,
    ProviderResult,
    Transport,
    build_fields,
    dig,
    email_confidence,
    first_str,
    verdict_confidence,
)
from providers.errors import ProviderFailure
from providers.transforms import employee_band

_STATUS = {
    "valid": EmailStatus.VALID,
    # LeadMagic separates catch-all domains where it still found evidence for the address
    # ("valid_catch_all") from bare catch-alls; both stay catch-all for us, the first with
    # more confidence in the address itself.
    "valid_catch_all": EmailStatus.CATCH_ALL,
    "catch_all": EmailStatus.CATCH_ALL,
    "invalid": EmailStatus.INVALID,
    "unknown": EmailStatus.UNKNOWN,
}


class LeadMagicAdapter(Adapter):
    slug = "leadmagic"
    label = "LeadMagic"
    docs_url = "https://leadmagic.io/docs/reference/email-finder"
    default_base_url = "https://api.leadmagic.io"
    # Essential plan: about $60 for 2,500 credits.
    credit_price: ClassVar[Decimal | None] = Decimal("0.024")
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=(),
            outputs=(
                "email",
                "email_status",
                "first_name",
                "last_name",
                "domain",
                "company_name",
                "industry",
                "company_size",
                "company_linkedin_url",
                "city",
                "state",
                "country",
            ),
            cost=Decimal("0.024"),
            one_of=(("domain", "company_name"),),
        ),
        Operation.VERIFY_EMAIL: OperationSpec(
            required=("email",),
            optional=(),
            outputs=("email", "email_status"),
            cost=Decimal("0.0012"),  # 0.05 credit
        ),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.require_credential("api_key")}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op is Operation.VERIFY_EMAIL:
            return self._validate(inputs, transport)
        return self._find(inputs, transport)

    def _cost(self, body: dict[str, Any], op: Operation, *, found: bool) -> Decimal:
        consumed = body.get("credits_consumed")
        if isinstance(consumed, int | float) and not isinstance(consumed, bool):
            return self.credits_cost(consumed)
        return self.cost_for(op) if found else Decimal(0)

    def _find(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        payload = {
            "first_name": inputs["first_name"],
            "last_name": inputs["last_name"],
            "domain": inputs.get("domain"),
            "company_name": inputs.get("company_name"),
        }
        response, body = self.fetch_json(
            transport,
            "POST",
            "v1/people/email-finder",
            json={k: v for k, v in payload.items() if v},
        )
        raw_status = str(body.get("status") or "").lower()
        email = first_str(body.get("email"))
        if raw_status == "not_found" or not email:
            return self.no_match(
                body,
                cost=self._cost(body, Operation.FIND_EMAIL, found=False),
                http_status=response.status,
                provider_status=raw_status or None,
            )
        status = _STATUS.get(raw_status, EmailStatus.UNKNOWN)
        score = 70 if raw_status == "valid_catch_all" else None
        location = (
            body.get("company_location") if isinstance(body.get("company_location"), dict) else {}
        )
        linkedin = first_str(body.get("company_linkedin_url"), body.get("company_profile_url"))
        if linkedin and "linkedin.com" not in linkedin:
            # Newer answers give only the profile slug ("leadmagichq").
            linkedin = f"https://www.linkedin.com/company/{linkedin.strip('/')}"
        fields = build_fields(
            {
                "email": (email.lower(), email_confidence(status, score)),
                "email_status": (status.value, verdict_confidence(status)),
                "first_name": (first_str(body.get("first_name")), 80),
                "last_name": (first_str(body.get("last_name")), 80),
                "domain": (first_str(body.get("domain")), 90),
                "company_name": (first_str(body.get("company_name")), 75),
                "industry": (first_str(body.get("company_industry")), 60),
                "company_size": (employee_band(body.get("company_size")), 60),
                "company_linkedin_url": (linkedin, 70),
                "city": (first_str(location.get("locality")), 60),
                "state": (first_str(location.get("region")), 60),
                "country": (first_str(location.get("country")), 65),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self._cost(body, Operation.FIND_EMAIL, found=True),
            http_status=response.status,
            extra={
                "provider_status": raw_status,
                "catch_all_domain": body.get("is_domain_catch_all"),
                "employment_verified": body.get("employment_verified"),
            },
        )

    def _validate(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        response, body = self.fetch_json(
            transport, "POST", "v1/people/email-validation", json={"email": inputs["email"]}
        )
        raw_status = first_str(body.get("email_status"), dig(body, "data", "email_status"))
        if raw_status is None:
            raise ProviderFailure(
                "malformed_response",
                "LeadMagic's answer has no email_status",
                http_status=response.status,
            )
        status = _STATUS.get(raw_status.lower(), EmailStatus.UNKNOWN)
        fields = build_fields(
            {
                "email": (first_str(body.get("email")) or inputs["email"], 100),
                "email_status": (status.value, verdict_confidence(status)),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self._cost(body, Operation.VERIFY_EMAIL, found=True),
            http_status=response.status,
            extra={
                "provider_status": raw_status,
                "catch_all_domain": body.get("is_domain_catch_all"),
                "mx_provider": body.get("mx_provider"),
            },
        )
