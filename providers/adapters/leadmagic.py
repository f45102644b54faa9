"""LeadMagic: email finder, email validation, company search and mobile finder.

Official documentation: https://leadmagic.io/docs/reference/email-finder
(and the OpenAPI file LeadMagic publishes at https://github.com/LeadMagic/leadmagic-openapi:
``leadmagic-openapi-3.1.yaml``, paths ``/v1/people/mobile-finder`` and
``/v1/companies/company-search``, components ``MobileFinderMessages``,
``CompanySearchMessages``, ``ErrorResponse`` and ``responses.NotFound``; the credit table in
the same repository's ``llms-full.txt`` and ``README.md`` "Credit Consumption"; credits and
plans: https://leadmagic.io/docs/v1/credits and
https://help.leadmagic.io/en/articles/7-the-leadmagic-credit-system).

Facts this adapter relies on:

- Base ``https://api.leadmagic.io``, routes under ``/v1``; the key goes in ``X-API-Key``.
- ``POST /v1/people/email-finder`` ``{first_name, last_name, domain | company_name}`` ("Company
  Domain is always more accurate") → ``email``, ``status`` (``valid`` | ``valid_catch_all`` |
  ``not_found``), ``credits_consumed``, ``is_domain_catch_all``, and company fields
  (``company_name``, ``company_industry``, ``company_size``, ``company_location``...).
  "You only pay when we successfully find an email. No-result lookups are always free."
- ``POST /v1/people/email-validation`` ``{email}`` → ``email_status`` (``valid`` |
  ``valid_catch_all`` | ``invalid`` | ``unknown`` | ``catch_all``) and ``credits_consumed``.
- ``POST /v1/companies/company-search`` ``{company_domain, company_name, profile_url}`` (any
  of them; ``profile_url`` is the company's profile URL or slug) → ``message`` ("Company
  found." | "Company not found"), ``credits_consumed``, ``companyName``, ``companyId``,
  ``websiteUrl``, ``industry``, ``employeeCount``, ``employeeCountRange.{start, end}``,
  ``employee_range``, ``headquarter.{city, geographicArea, country, postalCode}``,
  ``locations[]`` (``headquarter: true`` marks the head office), ``universalName`` /
  ``b2b_profile_url`` (the profile slug, "leadmagichq"), ``revenue`` ("Estimated annual
  revenue") and ``revenue_formatted`` ("5.1B"). The response documents no technologies
  (technographics is a separate endpoint). 1 credit; "Free if not found"; 404 is documented
  for an unknown company.
- ``POST /v1/people/mobile-finder`` ``{profile_url, work_email, personal_email}`` (any of them)
  → ``mobile_number`` (a string of digits, ``null`` when none), ``profile_url``, ``email``,
  ``credits_consumed``, ``message`` ("Mobile number found." | "No mobile number found for
  this contact."). 5 credits per mobile found; "Free if not found". No 404 is documented for
  it; one is still read as no match, like everywhere else.
- Credits are charged only on success ("Pay for Success"; "Not Found Results — No Charge").
  Basic plan: 2,500 credits for $60, $0.024 a credit.
- Every answer reports ``credits_consumed``. Errors are
  ``{"success": false, "errors": [{"type", "title", "status", "code", "detail"...}]}`` with
  400, 401, 402 (``insufficient_credits``), 404 (``resource_not_found``), 429
  (``Retry-After`` in seconds), 500.
- The no-match fixtures (``*_not_found.json``) follow the messages and "free if not found"
  above; the documentation shows no full no-match example for these two endpoints.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from enrichment.emails.domains import normalise_domain
from providers.adapters.base import (
    Adapter,
    EmailStatus,
    Operation,
    OperationSpec,
    ProviderResult,
    Transport,
    build_fields,
    email_confidence,
    verdict_confidence,
)
from providers.adapters.values import (
    dig,
    first_str,
)
from providers.errors import ProviderFailure
from providers.transforms import employee_band, phone_e164

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
_COMPANY_OUTPUTS = (
    "company_name",
    "domain",
    "company_linkedin_url",
    "industry",
    "company_size",
    "company_revenue",
    "city",
    "state",
    "country",
    "location",
)


def _company_profile_url(*values: Any) -> str | None:
    """A company profile URL from LeadMagic's slug ("leadmagichq") or URL."""
    value = first_str(*values)
    if value is None:
        return None
    if "/" in value or "linkedin.com" in value:
        return value if "://" in value else f"https://{value}"
    # Newer answers give only the profile slug.
    return f"https://www.linkedin.com/company/{value.strip('/')}"


def _company_size(body: dict[str, Any]) -> str | None:
    # The declared band ({"start": 11, "end": 50}) goes first: it is what the email finder
    # reports as company_size for the same company, while the documented example's
    # employeeCount (9) falls in another band. The count, then the free-text employee_range,
    # are the fallbacks.
    span = body.get("employeeCountRange")
    bounds = (span.get("start"), span.get("end")) if isinstance(span, dict) else ()
    if bounds and all(isinstance(n, int) and not isinstance(n, bool) for n in bounds):
        return employee_band(f"{bounds[0]}-{bounds[1]}")
    return employee_band(body.get("employeeCount")) or employee_band(body.get("employee_range"))


def _headquarters(body: dict[str, Any]) -> dict[str, Any]:
    head = body.get("headquarter")
    if isinstance(head, dict) and head:
        return head
    offices = [o for o in body.get("locations") or [] if isinstance(o, dict)]
    return next((o for o in offices if o.get("headquarter") is True), offices[0] if offices else {})


class LeadMagicAdapter(Adapter):
    slug = "leadmagic"
    label = "LeadMagic"
    docs_url = "https://leadmagic.io/docs/reference/email-finder"
    default_base_url = "https://api.leadmagic.io"
    # Basic plan: $60 for 2,500 credits.
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
        Operation.ENRICH_COMPANY: OperationSpec(
            required=(),
            optional=(),
            outputs=_COMPANY_OUTPUTS,
            cost=Decimal("0.024"),  # 1 credit
            one_of=(("domain", "company_name", "company_linkedin_url"),),
        ),
        Operation.FIND_PHONE: OperationSpec(
            required=(),
            optional=(),
            outputs=("mobile_phone",),
            cost=Decimal("0.12"),  # 5 credits
            one_of=(("linkedin_url", "email", "personal_email"),),
        ),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.require_credential("api_key")}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op is Operation.VERIFY_EMAIL:
            return self._validate(inputs, transport)
        if op is Operation.ENRICH_COMPANY:
            return self._company(inputs, transport)
        if op is Operation.FIND_PHONE:
            return self._mobile(inputs, transport)
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
        linkedin = _company_profile_url(
            body.get("company_linkedin_url"), body.get("company_profile_url")
        )
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

    def _company(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        payload = {
            "company_domain": inputs.get("domain"),
            "company_name": inputs.get("company_name"),
            "profile_url": inputs.get("company_linkedin_url"),
        }
        response, body = self.fetch_json(
            transport,
            "POST",
            "v1/companies/company-search",
            json={k: v for k, v in payload.items() if v},
        )
        message = first_str(body.get("message"))
        # The documented answer is camelCase; the smoke test in LeadMagic's repository also
        # reads company_name, so accept either.
        name = first_str(body.get("companyName"), body.get("company_name"))
        if not name:
            return self.no_match(
                body,
                cost=self._cost(body, Operation.ENRICH_COMPANY, found=False),
                http_status=response.status,
                message=message,
            )
        website = first_str(body.get("websiteUrl"))
        domain = (normalise_domain(website) if website else None) or inputs.get("domain")
        head = _headquarters(body)
        city = first_str(head.get("city"))
        state = first_str(head.get("geographicArea"))
        country = first_str(head.get("country"))
        revenue = body.get("revenue")
        fields = build_fields(
            {
                "company_name": (name, 85),
                "domain": (domain, 90),
                "company_linkedin_url": (
                    _company_profile_url(
                        body.get("b2b_profile_url"), body.get("universalName"), body.get("url")
                    ),
                    80,
                ),
                "industry": (first_str(body.get("industry")), 70),
                "company_size": (_company_size(body), 70),
                # "Estimated annual revenue": an estimate, so less sure than the firmographics.
                "company_revenue": (
                    first_str(body.get("revenue_formatted"))
                    or (str(revenue) if isinstance(revenue, int | float) and revenue else None),
                    55,
                ),
                "city": (city, 70),
                "state": (state, 70),
                "country": (country, 75),
                "location": (", ".join(p for p in (city, state, country) if p) or None, 70),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self._cost(body, Operation.ENRICH_COMPANY, found=True),
            http_status=response.status,
            extra={
                "message": message,
                "company_id": body.get("companyId"),
                "employee_count": body.get("employeeCount"),
                "ownership_status": body.get("ownership_status"),
            },
        )

    def _mobile(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        payload = {
            "profile_url": inputs.get("linkedin_url"),
            "work_email": inputs.get("email"),
            "personal_email": inputs.get("personal_email"),
        }
        response, body = self.fetch_json(
            transport,
            "POST",
            "v1/people/mobile-finder",
            json={k: v for k, v in payload.items() if v},
        )
        message = first_str(body.get("message"))
        mobile = first_str(body.get("mobile_number"))
        if not mobile:
            return self.no_match(
                body,
                cost=self._cost(body, Operation.FIND_PHONE, found=False),
                http_status=response.status,
                message=message,
            )
        # Only a mobile comes back, so the office "phone" field stays empty. The documented
        # example is bare digits with the country code ("12077523358"): read as E.164.
        number, penalty = phone_e164(mobile)
        return ProviderResult(
            found=True,
            fields=build_fields({"mobile_phone": (number, 75 - penalty)}),
            raw=body,
            cost=self._cost(body, Operation.FIND_PHONE, found=True),
            http_status=response.status,
            extra={"message": message, "profile_url": body.get("profile_url")},
        )
