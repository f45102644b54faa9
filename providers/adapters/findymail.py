"""FindyMail: verified work emails from a name and domain (or a LinkedIn URL), and verification.

Official documentation: https://app.findymail.com/docs/

Facts this adapter relies on (from that page):

- Base ``https://app.findymail.com/``; ``Authorization: Bearer <key>``; JSON bodies.
- ``POST /api/search/name`` ``{name, domain}`` (the domain, or failing that the company name) →
  ``{"contact": {"name", "email", "domain"}}``. Emails FindyMail returns are verified.
- ``POST /api/search/linkedin`` ``{linkedin_url}`` → the same ``contact`` shape.
- ``POST /api/verify`` ``{email}`` → ``{"email", "verified": bool}``; "uses one verifier credit
  on all attempted verification".
- Out of credits is documented as an HTTP **200** with ``{"error": "Not enough credits"}``;
  clients also see 402 for it. All endpoints allow 300 concurrent requests.
- Exact no-match responses are not documented: a 404, or a 200 without a contact email, are both
  read as no match (finder credits are only used when an email is found).
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
    ensure_mapping,
    first_str,
)
from providers.errors import ClientError, ProviderFailure


class FindymailAdapter(Adapter):
    slug = "findymail"
    label = "FindyMail"
    docs_url = "https://app.findymail.com/docs/"
    default_base_url = "https://app.findymail.com"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.FIND_EMAIL: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=("email", "email_status", "full_name", "domain"),
            # Basic plan: $49 for 1,000 finder credits.
            cost=Decimal("0.049"),
            one_of=(("full_name", "linkedin_url"),),
        ),
        Operation.VERIFY_EMAIL: OperationSpec(
            required=("email",),
            optional=(),
            outputs=("email", "email_status"),
            cost=Decimal("0.01"),
        ),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.require_credential('api_key')}"}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op is Operation.VERIFY_EMAIL:
            return self._verify(inputs, transport)
        return self._find(inputs, transport)

    def _body(self, response: HttpResponse) -> dict[str, Any]:
        """Status mapping plus FindyMail's errors-inside-200."""
        self.raise_for_status(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        error = body.get("error")
        if isinstance(error, str) and error.strip():
            message = f"FindyMail: {self.mask_text(error.strip())}"
            lowered = error.lower()
            if "credit" in lowered:
                raise ProviderFailure("quota_exhausted", message, http_status=response.status)
            if "not found" in lowered or "no email" in lowered:
                raise ProviderFailure("not_found", message, http_status=response.status)
            raise ProviderFailure("malformed_response", message, http_status=response.status)
        return body

    def _find(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        company = inputs.get("domain") or inputs.get("company_name")
        if inputs.get("full_name") and company:
            payload = {"name": inputs["full_name"], "domain": company}
            response = self.request(transport, "POST", "api/search/name", json=payload)
        elif inputs.get("linkedin_url"):
            payload = {"linkedin_url": inputs["linkedin_url"]}
            response = self.request(transport, "POST", "api/search/linkedin", json=payload)
        else:
            raise ClientError(
                "missing_field",
                "FindyMail needs a name with a domain or company, or a LinkedIn URL",
            )
        body = self._body(response)
        contact = body.get("contact") if isinstance(body.get("contact"), dict) else {}
        email = first_str(contact.get("email"))
        if not email or "@" not in email:
            return self.no_match(body, http_status=response.status)
        status = EmailStatus.VALID  # FindyMail only returns addresses it has verified
        domain = first_str(contact.get("domain"))
        fields = build_fields(
            {
                "email": (email.lower(), email_confidence(status)),
                "email_status": (status.value, verdict_confidence(status)),
                "full_name": (first_str(contact.get("name")), 80),
                "domain": (normalise_domain(domain) if domain else None, 90),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self.cost_for(Operation.FIND_EMAIL),
            http_status=response.status,
            extra={"provider_status": "verified"},
        )

    def _verify(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        response = self.request(transport, "POST", "api/verify", json={"email": inputs["email"]})
        body = self._body(response)
        verified = body.get("verified")
        if not isinstance(verified, bool):
            raise ProviderFailure(
                "malformed_response",
                "FindyMail's answer has no 'verified' flag",
                http_status=response.status,
            )
        # FindyMail answers yes or no; "no" covers invalid and unverifiable alike, so it is the
        # weaker "unknown" rather than "invalid" (and a waterfall may ask another verifier).
        status = EmailStatus.VALID if verified else EmailStatus.UNKNOWN
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
            cost=self.cost_for(Operation.VERIFY_EMAIL),  # charged on every attempt
            http_status=response.status,
            extra={"provider_status": "verified" if verified else "not_verified"},
        )
