"""Apollo.io: people enrichment (and email finding through it), people search, company enrichment,
and phone reveals, which Apollo delivers later to a webhook.

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
- Locked emails come back as ``email_not_unlocked@domain.com``: a placeholder, not an address.
- ``POST /mixed_people/api_search`` (``q_organization_domains_list[]``, ``person_titles[]``,
  ``person_seniorities[]``, ``per_page`` ≤ 100) costs no credits and returns no emails; last
  names come obfuscated.
- ``GET /organizations/enrich?domain=`` → ``organization``.
- Credits: 1 per enriched record (demographics or email), 8 more when a mobile number is
  returned, none when nothing is found. Headers ``x-minute|hourly|daily-requests-left`` report
  the remaining request allowance; 429 carries ``retry-after``; 403 ``API_INACCESSIBLE`` means
  the plan has no API access to that endpoint.

Phone reveal (``Operation.FIND_PHONE``), from the people enrichment reference above,
https://docs.apollo.io/docs/retrieve-mobile-phone-numbers-for-contacts,
https://docs.apollo.io/reference/bulk-people-enrichment (credits) and
https://docs.apollo.io/reference/poll-webhook-result:

- ``reveal_phone_number=true`` requires ``webhook_url``. "Phone enrichment runs asynchronously.
  Apollo immediately returns the standard people enrichment response, then sends the phone
  enrichment results to the webhook URL included in your request." The endpoint "must be
  publicly accessible over HTTPS", and "Apollo may retry webhook calls": the receiver must be
  idempotent. Apollo documents no signature on these calls, so the only authentication is an
  unguessable URL: each reveal gets its own ``secrets.token_urlsafe`` token in the path, and
  only a hash of it is stored (:mod:`providers.reveals`).
- The public base URL comes from the provider config, ``webhook_base_url`` (an https URL);
  the webhook is ``<webhook_base_url>/api/providers/apollo/phones/<token>``
  (:mod:`providers.webhooks`).
- Enrichment answers carry a ``request_id`` for polling the result later (``GET
  /webhook_result/{request_id}``, kept 30 days); the docs do not show where in the answer it
  sits, so the top-level ``request_id`` (or ``http_request_id``) is kept when present.
- The webhook's payload and how it is read: :mod:`providers.webhooks`.
- Cost: the synchronous answer bills 1 credit as usual; the 8 mobile credits are billed when a
  mobile arrives, so the reveal record carries that part (``PhoneReveal.cost``). The
  operation's listed cost is the most one reveal can cost (9 credits), which is what a budget
  must reserve. The waterfall picks the cheapest operation for a field, so it keeps using
  ``ENRICH_PERSON`` for phones; ``FIND_PHONE`` is for callers that ask for a reveal.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Protocol
from urllib.parse import urlsplit

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
    join_names,
    to_decimal,
)
from providers.errors import ClientError, ErrorKind, ProviderError
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
#: Error kinds raised before a request leaves (a missing key, a blocked address).
_LOCAL_REFUSALS = frozenset({ErrorKind.CLIENT, ErrorKind.AUTHENTICATION})
#: Where this site receives Apollo's phone webhooks, under ``webhook_base_url``; providers/urls.py
#: routes the same path.
WEBHOOK_PATH = "api/providers/apollo/phones/"


class RevealStore(Protocol):
    """Keeps pending phone reveals: :mod:`providers.reveals` (the database); tests pass a fake.

    The adapter holds no ORM code, like every adapter; it only asks the store to open a reveal
    before the request (so a fast webhook finds it), to attach Apollo's ids after the answer,
    and to discard it when Apollo said no.
    """

    def phone_reveal_open(self, *, adapter: Adapter, token: str) -> int: ...

    def phone_reveal_attach(
        self, *, reveal_id: int, person_id: str | None, request_id: str | None
    ) -> None: ...

    def phone_reveal_discard(self, *, reveal_id: int) -> None: ...


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
        # The phones arrive later, on the webhook; the answer itself is the matched person.
        Operation.FIND_PHONE: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=_PERSON_OUTPUTS,
            cost=Decimal("0.225"),  # 1 credit + 8 for a mobile: the most one reveal costs
            one_of=(("email", "linkedin_url", "full_name", "first_name"),),
            # A request whose answer was lost may still bring a webhook (and a bill).
            repeatable=False,
        ),
    }
    #: Keeps pending phone reveals; ``None`` means :mod:`providers.reveals` (the database).
    reveal_store: ClassVar[RevealStore | None] = None

    def auth_headers(self) -> dict[str, str]:
        return {"x-api-key": self.require_credential("api_key"), "Cache-Control": "no-cache"}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if op in (Operation.ENRICH_PERSON, Operation.FIND_EMAIL):
            return self._match(op, inputs, transport)
        if op is Operation.SEARCH_PEOPLE:
            return self._search(inputs, transport)
        if op is Operation.FIND_PHONE:
            return self._reveal_phone(inputs, transport)
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

    @staticmethod
    def _match_params(inputs: dict[str, Any]) -> dict[str, Any]:
        return {
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

    def _match(self, op: Operation, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        params = self._match_params(inputs)
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

    # --- phone reveal ---------------------------------------------------------------------------

    def _store(self) -> RevealStore:
        if self.reveal_store is not None:
            return self.reveal_store
        # Imported on use: adapter modules stay free of ORM code and importable without the
        # app registry. providers.reveals never imports this module, so there is no cycle.
        from providers import reveals

        return reveals

    def webhook_base_url(self) -> str:
        """The public https address Apollo posts phones to; ``ClientError`` if not configured."""
        raw = self.config.get("webhook_base_url")
        if not isinstance(raw, str) or not raw.strip():
            raise ClientError(
                "invalid_request",
                "Apollo delivers revealed phone numbers to a webhook: set webhook_base_url in "
                "the Apollo provider config to this site's public https address "
                "(e.g. https://leads.example.com)",
            )
        base = raw.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
            raise ClientError(
                "invalid_request",
                "webhook_base_url in the Apollo provider config must be a public https URL "
                "without query or fragment (Apollo only calls https webhooks)",
            )
        return base

    def _reveal_phone(self, inputs: dict[str, Any], transport: Transport) -> ProviderResult:
        base = self.webhook_base_url()
        store = self._store()
        token = secrets.token_urlsafe(32)
        # Apollo may echo webhook_url back: mask the token like a credential for this call
        # (Adapter.call masks raw, extra and errors), then forget it so the set cannot grow.
        self.add_secret(token)
        try:
            reveal_id = store.phone_reveal_open(adapter=self, token=token)
            params = {
                **self._match_params(inputs),
                "reveal_phone_number": "true",
                "webhook_url": f"{base}/{WEBHOOK_PATH}{token}",
            }
            try:
                response, body = self.fetch_json(transport, "POST", "people/match", params=params)
            except ProviderError as exc:
                refused = exc.http_status is not None and not 200 <= exc.http_status < 300
                # Refused here before anything went out (no key, a blocked address).
                unsent = exc.http_status is None and exc.kind in _LOCAL_REFUSALS
                if refused or unsent:
                    store.phone_reveal_discard(reveal_id=reveal_id)  # no webhook follows
                # With no answer (timeout, network) or a garbled 200, Apollo may have taken the
                # request: the reveal waits for its webhook and expires if none comes.
                raise
            result = self._reveal_result(store, reveal_id, response, body)
            result.raw, result.extra = self.mask(result.raw), self.mask(result.extra)
            return result
        except ProviderError as exc:
            raise self._masked(exc) from None
        finally:
            self._secrets.discard(token)

    def _reveal_result(
        self, store: RevealStore, reveal_id: int, response: HttpResponse, body: dict[str, Any]
    ) -> ProviderResult:
        person = body.get("person")
        extra = self._extra(response)
        if not isinstance(person, dict) or not person:
            store.phone_reveal_discard(reveal_id=reveal_id)
            return self.no_match(body, http_status=response.status, **extra)
        fields, mobile = self._person_fields(person)
        person_id = first_str(person.get("id"))
        request_id = _request_id(body)
        store.phone_reveal_attach(reveal_id=reveal_id, person_id=person_id, request_id=request_id)
        extra["provider_status"] = person.get("email_status")
        extra["apollo_id"] = person.get("id")
        extra["phone_reveal"] = {
            # The PhoneReveal to watch (its status is current there, not in a cached answer).
            "id": reveal_id,
            "request_id": request_id,
            # What Apollo bills on top if the webhook brings a mobile number.
            "mobile_cost": str(self.credits_cost(MOBILE_CREDITS)),
        }
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self.credits_cost(1 + (MOBILE_CREDITS if mobile else 0)),
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


def _request_id(body: Mapping[str, Any]) -> str | None:
    for key in ("request_id", "http_request_id"):
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)
    return None
