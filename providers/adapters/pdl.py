"""People Data Labs: person enrichment (and work email through it) and company enrichment.

Official documentation: https://docs.peopledatalabs.com/docs/reference-person-enrichment-api
(output: https://docs.peopledatalabs.com/docs/output-response-person-enrichment-api; company:
https://docs.peopledatalabs.com/docs/output-response-company-enrichment-api; errors:
https://docs.peopledatalabs.com/docs/errors; authentication:
https://docs.peopledatalabs.com/docs/authentication).

Facts this adapter relies on:

- Base ``https://api.peopledatalabs.com/v5``; the key goes in the ``X-Api-Key`` header (the
  ``api_key`` query parameter would leak it into URLs).
- ``GET /person/enrich`` (``email``, ``profile``, ``first_name``, ``last_name``, ``company``,
  ``min_likelihood``) → ``{"status": 200, "likelihood": 1-10, "data": {...}}``. "When it
  doesn't find a matching person, it returns an HTTP response code of 404. We charge per
  match." The likelihood is logarithmic: 10 is near certain, 1 is a guess.
- ``GET /company/enrich`` (``website``, ``name``, ``profile``) → the company's fields at the
  top level (no ``data`` object) plus ``likelihood``.
- Errors: ``{"status", "error": {"type", "message"}}``; 400 invalid request, 401 bad key,
  **402 account maximum reached**, 404 no match (not billed), 429 rate limit.
- On plans without contact data, contact fields hold ``true`` ("we have it") instead of the
  value; only strings are taken as values.
- Headers ``x-ratelimit-remaining``, ``x-call-credits-spent``, ``x-totallimit-remaining``.
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
)
from providers.adapters.values import (
    first_str,
    to_decimal,
)
from providers.transforms import employee_band

_PERSON_OUTPUTS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_status",
    "personal_email",
    "mobile_phone",
    "phone",
    "title",
    "seniority",
    "department",
    "linkedin_url",
    "company_name",
    "domain",
    "company_size",
    "industry",
    "company_linkedin_url",
    "city",
    "state",
    "country",
    "zip_code",
    "location",
)
_COMPANY_OUTPUTS = (
    "company_name",
    "domain",
    "company_size",
    "industry",
    "company_linkedin_url",
    "city",
    "state",
    "country",
    "zip_code",
    "location",
)


def _url(value: Any) -> str | None:
    # PDL writes URLs without a scheme ("linkedin.com/in/seanthorne").
    text = first_str(value)
    if text and not text.startswith(("http://", "https://")):
        text = "https://" + text
    return text


def _first_string_in(value: Any) -> str | None:
    if isinstance(value, list):
        return first_str(*value)
    return first_str(value)


class PeopleDataLabsAdapter(Adapter):
    slug = "pdl"
    label = "People Data Labs"
    docs_url = "https://docs.peopledatalabs.com/docs/reference-person-enrichment-api"
    default_base_url = "https://api.peopledatalabs.com/v5"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.ENRICH_PERSON: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=_PERSON_OUTPUTS,
            # Pro plan: about $0.28 per matched person.
            cost=Decimal("0.28"),
            one_of=(("email", "linkedin_url", "full_name"),),
        ),
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=("linkedin_url",),
            outputs=_PERSON_OUTPUTS,
            cost=Decimal("0.28"),
            one_of=(("domain", "company_name"),),
        ),
        Operation.ENRICH_COMPANY: OperationSpec(
            required=(),
            optional=(),
            outputs=_COMPANY_OUTPUTS,
            cost=Decimal("0.10"),
            one_of=(("domain", "company_name", "company_linkedin_url"),),
        ),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self.require_credential("api_key")}

    def _min_likelihood(self) -> int | None:
        value = self.config.get("min_likelihood")
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

    def _extra(self, response: HttpResponse, likelihood: Any) -> dict[str, Any]:
        return {
            "likelihood": likelihood,
            "call_credits_spent": response.headers.get("x-call-credits-spent"),
            "rate_limit_remaining": response.headers.get("x-ratelimit-remaining"),
        }

    def _credits_left(self, response: HttpResponse) -> Decimal | None:
        value = response.headers.get("x-totallimit-remaining")
        return None if value is None else to_decimal(value, default=Decimal(0))

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op is Operation.ENRICH_COMPANY:
            return self._company(inputs, transport)
        return self._person(op, inputs, transport)

    def _person(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        params = {
            "email": inputs.get("email"),
            "profile": inputs.get("linkedin_url"),
            "first_name": inputs.get("first_name"),
            "last_name": inputs.get("last_name"),
            "name": inputs.get("full_name") if not inputs.get("first_name") else None,
            "company": inputs.get("domain") or inputs.get("company_name"),
            "min_likelihood": self._min_likelihood(),
        }
        response, body = self.fetch_json(transport, "GET", "person/enrich", params=params)
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return self.no_match(body, http_status=response.status)
        likelihood = body.get("likelihood")
        # Likelihood 1-10 → 10-100: how sure PDL is that this is the person we asked about.
        identity = max(10, min(100, int(likelihood) * 10)) if isinstance(likelihood, int) else 50
        work_email = first_str(data.get("work_email"))
        if work_email and "@" not in work_email:
            work_email = None
        levels = data.get("job_title_levels") or []
        domain = first_str(data.get("job_company_website"))
        fields = build_fields(
            {
                "first_name": (_title(data.get("first_name")), identity),
                "last_name": (_title(data.get("last_name")), identity),
                "full_name": (_title(data.get("full_name")), identity),
                # PDL does not verify mailboxes: a matched work email is a good lead, not proof.
                "email": (work_email.lower() if work_email else None, min(identity, 80)),
                "email_status": (EmailStatus.UNKNOWN.value if work_email else None, 30),
                "personal_email": (
                    _first_string_in(data.get("personal_emails")),
                    min(identity, 70),
                ),
                "mobile_phone": (first_str(data.get("mobile_phone")), min(identity, 75)),
                "phone": (_first_string_in(data.get("phone_numbers")), min(identity, 60)),
                "title": (_title(data.get("job_title")), min(identity, 80)),
                "seniority": (_first_string_in(levels), min(identity, 70)),
                "department": (first_str(data.get("job_title_role")), min(identity, 70)),
                "linkedin_url": (_url(data.get("linkedin_url")), identity),
                "company_name": (_title(data.get("job_company_name")), min(identity, 85)),
                "domain": (normalise_domain(domain) if domain else None, min(identity, 85)),
                "company_size": (employee_band(data.get("job_company_size")), min(identity, 70)),
                "industry": (first_str(data.get("job_company_industry")), min(identity, 70)),
                "company_linkedin_url": (
                    _url(data.get("job_company_linkedin_url")),
                    min(identity, 80),
                ),
                "city": (_title(data.get("location_locality")), min(identity, 70)),
                "state": (_title(data.get("location_region")), min(identity, 70)),
                "country": (_title(data.get("location_country")), min(identity, 75)),
                "zip_code": (first_str(data.get("location_postal_code")), min(identity, 60)),
                "location": (_title(data.get("location_name")), min(identity, 70)),
            }
        )
        found = "email" in fields if op is Operation.FIND_EMAIL else True
        return ProviderResult(
            found=found,
            fields=fields if found else {},
            raw=body,
            cost=self.cost_for(op),  # billed per matched person, email or not
            credits_left=self._credits_left(response),
            http_status=response.status,
            extra=self._extra(response, likelihood),
        )

    def _company(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        params = {
            "website": inputs.get("domain"),
            "name": inputs.get("company_name") if not inputs.get("domain") else None,
            "profile": inputs.get("company_linkedin_url"),
            "min_likelihood": self._min_likelihood(),
        }
        response, body = self.fetch_json(transport, "GET", "company/enrich", params=params)
        if not first_str(body.get("name")):
            return self.no_match(body, http_status=response.status)
        likelihood = body.get("likelihood")
        identity = max(10, min(100, int(likelihood) * 10)) if isinstance(likelihood, int) else 50
        location = body.get("location") if isinstance(body.get("location"), dict) else {}
        website = first_str(body.get("website"))
        fields = build_fields(
            {
                "company_name": (
                    _title(body.get("display_name")) or _title(body.get("name")),
                    identity,
                ),
                "domain": (normalise_domain(website) if website else None, identity),
                "company_size": (
                    employee_band(body.get("employee_count")) or employee_band(body.get("size")),
                    min(identity, 75),
                ),
                "industry": (first_str(body.get("industry")), min(identity, 75)),
                "company_linkedin_url": (_url(body.get("linkedin_url")), identity),
                "city": (_title(location.get("locality")), min(identity, 70)),
                "state": (_title(location.get("region")), min(identity, 70)),
                "country": (_title(location.get("country")), min(identity, 75)),
                "zip_code": (first_str(location.get("postal_code")), min(identity, 60)),
                "location": (_title(location.get("name")), min(identity, 70)),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self.cost_for(Operation.ENRICH_COMPANY),
            credits_left=self._credits_left(response),
            http_status=response.status,
            extra=self._extra(response, likelihood),
        )


def _title(value: Any) -> str | None:
    """PDL lower-cases names and places ("sean thorne"); present them as people write them."""
    text = first_str(value)
    if text is None:
        return None
    return text.title() if text == text.lower() else text
