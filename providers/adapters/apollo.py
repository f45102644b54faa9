"""Apollo.io: people enrichment (and email finding through it), people search, company enrichment.

Official documentation: https://docs.apollo.io/reference/people-enrichment
(also https://docs.apollo.io/docs/enrich-people-data, the organization enrichment and People API
Search reference pages under https://docs.apollo.io/reference/).

Facts this adapter relies on:

- Base ``https://api.apollo.io/api/v1``; the key goes in the ``x-api-key`` header (Bearer is for
  OAuth apps only).
- ``POST /people/match`` with query parameters (``first_name``, ``last_name``, ``email``,
  ``domain``, ``organization_name``, ``linkedin_url``, ``reveal_personal_emails``). "If you only
  provide general information ... you might receive a 200 response, but the response will
  indicate that no records have been enriched": **a 200 without ``person`` is no match**.
  Phone numbers need ``reveal_phone_number`` *and* a webhook (they arrive later), so this
  synchronous adapter does not ask for them.
- Locked emails come back as ``email_not_unlocked@domain.com``: a placeholder, not an address.
- ``POST /mixed_people/api_search`` (``q_organization_domains_list[]``, ``person_titles[]``,
  ``person_seniorities[]``, ``per_page`` ≤ 100) costs no credits and returns no emails; last
  names come obfuscated.
- ``GET /organizations/enrich?domain=`` → ``organization``.
- Credits: 1 per enriched record (demographics or email), 8 more when a mobile number is
  returned, none when nothing is found. Headers ``x-minute|hourly|daily-requests-left`` report
  the remaining request allowance; 429 carries ``retry-after``; 403 ``API_INACCESSIBLE`` means
  the plan has no API access to that endpoint.
"""

from __future__ import annotations

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
    first_str,
    join_names,
    normalise_domain,
    to_decimal,
    verdict_confidence,
)
from providers.transforms import employee_band, pick_phone

_PERSON_OUTPUTS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_status",
    "title",
    "seniority",
    "department",
    "linkedin_url",
    "phone",
    "mobile_phone",
    "city",
    "state",
    "country",
    "location",
    "company_name",
    "domain",
    "company_linkedin_url",
    "industry",
    "company_size",
    "company_revenue",
)
_COMPANY_OUTPUTS = (
    "company_name",
    "domain",
    "company_linkedin_url",
    "industry",
    "company_size",
    "company_revenue",
    "phone",
    "city",
    "state",
    "country",
    "technologies",
)
_EMAIL_STATUS = {
    "verified": EmailStatus.VALID,
    "likely to engage": EmailStatus.VALID,
    "unverified": EmailStatus.UNKNOWN,
    "extrapolated": EmailStatus.UNKNOWN,
    "guessed": EmailStatus.UNKNOWN,
}
_LOCKED_EMAIL_PREFIX = "email_not_unlocked@"
MOBILE_CREDITS = 8


def _usable_email(value: Any) -> str | None:
    email = first_str(value)
    if not email or "@" not in email or email.lower().startswith(_LOCKED_EMAIL_PREFIX):
        return None
    return email.lower()


def _department(person: dict[str, Any]) -> str | None:
    # Apollo reports departments as ["master_sales"]; the canonical value is the plain word.
    departments = join_names(person.get("departments") or [])
    if not departments:
        return None
    return departments[0].removeprefix("master_").replace("_", " ")


class ApolloAdapter(Adapter):
    slug = "apollo"
    label = "Apollo"
    docs_url = "https://docs.apollo.io/reference/people-enrichment"
    default_base_url = "https://api.apollo.io/api/v1"
    # List price of one export/enrichment credit on the Basic plan.
    credit_price: ClassVar[Decimal | None] = Decimal("0.025")
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.ENRICH_PERSON: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=_PERSON_OUTPUTS,
            cost=Decimal("0.025"),
            one_of=(("email", "linkedin_url", "full_name", "first_name"),),
        ),
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=("linkedin_url",),
            outputs=_PERSON_OUTPUTS,
            cost=Decimal("0.025"),
            one_of=(("domain", "company_name"),),
        ),
        Operation.SEARCH_PEOPLE: OperationSpec(
            required=("domain",),
            optional=("title", "seniority", "limit"),
            outputs=("people",),
            cost=Decimal(0),
        ),
        Operation.ENRICH_COMPANY: OperationSpec(
            required=("domain",),
            optional=(),
            outputs=_COMPANY_OUTPUTS,
            cost=Decimal("0.025"),
        ),
    }

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.require_credential("api_key"), "Cache-Control": "no-cache"}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op in (Operation.ENRICH_PERSON, Operation.FIND_EMAIL):
            return self._match(op, inputs, transport)
        if op is Operation.SEARCH_PEOPLE:
            return self._search(inputs, transport)
        return self._company(inputs, transport)

    def _extra(self, response: HttpResponse) -> dict[str, Any]:
        left = {
            period: response.headers.get(f"x-{period}-requests-left")
            for period in ("minute", "hourly", "daily")
        }
        return {"requests_left": {k: v for k, v in left.items() if v is not None}}

    def _credits_left(self, response: HttpResponse) -> Decimal | None:
        # Apollo exposes no credit balance per response; the daily request allowance is the
        # nearest binding limit it does report.
        value = response.headers.get("x-daily-requests-left")
        return None if value is None else to_decimal(value, default=Decimal(0))

    def _match(self, op: Operation, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        params = {
            "first_name": inputs.get("first_name"),
            "last_name": inputs.get("last_name"),
            "name": inputs.get("full_name") if not inputs.get("first_name") else None,
            "email": inputs.get("email"),
            "domain": inputs.get("domain"),
            "organization_name": inputs.get("company_name"),
            "linkedin_url": inputs.get("linkedin_url"),
            "reveal_personal_emails": "false",
            "reveal_phone_number": "false",
        }
        response, body = self.fetch_json(transport, "POST", "people/match", params=params)
        person = body.get("person")
        extra = self._extra(response)
        if not isinstance(person, dict) or not person:
            return self.no_match(body, http_status=response.status, **extra)
        fields, mobile = self._person_fields(person)
        credits = 1 + (MOBILE_CREDITS if mobile else 0)
        found = "email" in fields if op is Operation.FIND_EMAIL else True
        extra["provider_status"] = person.get("email_status")
        extra["apollo_id"] = person.get("id")
        return ProviderResult(
            found=found,
            fields=fields if found else {},
            raw=body,
            # Apollo bills the enriched record even when it has no email for us.
            cost=self.credits_cost(credits),
            credits_left=self._credits_left(response),
            http_status=response.status,
            extra=extra,
        )

    def _person_fields(self, person: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        org = person.get("organization") if isinstance(person.get("organization"), dict) else {}
        email = _usable_email(person.get("email"))
        raw_status = str(person.get("email_status") or "").lower()
        status = _EMAIL_STATUS.get(raw_status, EmailStatus.UNKNOWN)
        score = person.get("extrapolated_email_confidence")
        if status is EmailStatus.UNKNOWN and isinstance(score, int | float) and score <= 1:
            score = score * 100  # Apollo gives extrapolation confidence as a fraction
        phones = [
            *(person.get("phone_numbers") or []),
            *((person.get("contact") or {}).get("phone_numbers") or []),
        ]
        mobiles = [
            p for p in phones if isinstance(p, dict) and "mobile" in str(p.get("type", "")).lower()
        ]
        mobile = pick_phone(mobiles) if mobiles else None
        office = pick_phone([p for p in phones if p not in mobiles]) or first_str(
            (org.get("primary_phone") or {}).get("sanitized_number")
            if isinstance(org.get("primary_phone"), dict)
            else None
        )
        location = ", ".join(
            p for p in (first_str(person.get(k)) for k in ("city", "state", "country")) if p
        )
        fields = build_fields(
            {
                "first_name": (first_str(person.get("first_name")), 90),
                "last_name": (first_str(person.get("last_name")), 90),
                "full_name": (first_str(person.get("name")), 90),
                "email": (email, email_confidence(status, score if email else None)),
                "email_status": (status.value if email else None, verdict_confidence(status)),
                "title": (first_str(person.get("title")), 80),
                "seniority": (first_str(person.get("seniority")), 75),
                "department": (_department(person), 70),
                "linkedin_url": (first_str(person.get("linkedin_url")), 90),
                "phone": (office, 60),
                "mobile_phone": (mobile, 75),
                "city": (first_str(person.get("city")), 70),
                "state": (first_str(person.get("state")), 70),
                "country": (first_str(person.get("country")), 75),
                "location": (location or None, 70),
                **self._org_fields(org),
            }
        )
        return fields, mobile is not None

    def _org_fields(self, org: dict[str, Any]) -> dict[str, tuple[Any, int]]:
        domain = first_str(org.get("primary_domain")) or (
            normalise_domain(org["website_url"]) if first_str(org.get("website_url")) else None
        )
        return {
            "company_name": (first_str(org.get("name")), 85),
            "domain": (domain, 90),
            "company_linkedin_url": (first_str(org.get("linkedin_url")), 85),
            "industry": (first_str(org.get("industry")), 70),
            "company_size": (employee_band(org.get("estimated_num_employees")), 70),
            "company_revenue": (
                first_str(org.get("annual_revenue_printed"))
                or (str(org["annual_revenue"]) if org.get("annual_revenue") else None),
                60,
            ),
        }

    def _search(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        limit = max(1, min(100, int(inputs.get("limit") or 25)))
        params: dict[str, Any] = {
            "q_organization_domains_list[]": [inputs["domain"]],
            "person_titles[]": [inputs["title"]] if inputs.get("title") else None,
            "person_seniorities[]": [inputs["seniority"]] if inputs.get("seniority") else None,
            "page": 1,
            "per_page": limit,
        }
        response, body = self.fetch_json(
            transport, "POST", "mixed_people/api_search", params=params
        )
        people: list[dict[str, Any]] = []
        for person in body.get("people") or []:
            if not isinstance(person, dict):
                continue
            org = person.get("organization") if isinstance(person.get("organization"), dict) else {}
            first = first_str(person.get("first_name"))
            last = first_str(person.get("last_name"))
            if last and "*" in last:
                last = None  # api_search obfuscates last names ("Hu***n")
            people.append(
                {
                    "first_name": first,
                    "last_name": last,
                    "full_name": " ".join(p for p in (first, last) if p) or None,
                    "title": first_str(person.get("title")),
                    "seniority": first_str(person.get("seniority")),
                    "linkedin_url": first_str(person.get("linkedin_url")),
                    "company_name": first_str(org.get("name")),
                    "domain": inputs["domain"],
                    "confidence": 70,
                    "provider_id": person.get("id"),
                    "has_email": person.get("has_email"),
                }
            )
        extra = self._extra(response)
        extra["total"] = (body.get("pagination") or {}).get(
            "total_entries", body.get("total_entries")
        )
        if not people:
            return self.no_match(body, http_status=response.status, **extra)
        return ProviderResult(
            found=True,
            fields=build_fields({"people": (people, 70)}),
            raw=body,
            cost=Decimal(0),  # People API Search consumes no credits
            credits_left=self._credits_left(response),
            http_status=response.status,
            extra=extra,
        )

    def _company(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        response, body = self.fetch_json(
            transport, "GET", "organizations/enrich", params={"domain": inputs["domain"]}
        )
        org = body.get("organization")
        extra = self._extra(response)
        if not isinstance(org, dict) or not first_str(org.get("name")):
            return self.no_match(body, http_status=response.status, **extra)
        technologies = join_names(org.get("technology_names") or [])
        values = {
            **self._org_fields(org),
            "phone": (first_str(org.get("phone")), 60),
            "city": (first_str(org.get("city")), 70),
            "state": (first_str(org.get("state")), 70),
            "country": (first_str(org.get("country")), 75),
            "technologies": (technologies, 60),
        }
        if not values["domain"][0]:
            values["domain"] = (inputs["domain"], 90)
        extra["apollo_id"] = org.get("id")
        extra["employee_count"] = org.get("estimated_num_employees")
        return ProviderResult(
            found=True,
            fields=build_fields(values),
            raw=body,
            cost=self.credits_cost(1),
            credits_left=self._credits_left(response),
            http_status=response.status,
            extra=extra,
        )
