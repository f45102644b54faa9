"""The sandbox provider: synthetic, clearly labelled data with no network at all.

The demo set-up (``make run``) and tests of the waterfall need a provider that always answers,
costs nothing and touches no network. Its answers are deterministic for a given input (seeded
from a hash of it) and every value it makes up says so: titles end in "(synthetic)", companies
and places in "(sandbox)", LinkedIn URLs live under the reserved ``.invalid`` top-level domain,
phone numbers come from the fictional 555-01xx range, invented domains end in ``.example``
(reserved by RFC 2606: https://datatracker.ietf.org/doc/html/rfc2606), and every result carries
``extra["synthetic"] = True`` and ``extra["source"] = "sandbox"``. Emails use the input's domain,
as a real finder would, and are flagged synthetic in ``extra``.

This is the only place the product makes data up (DESIGN.md: synthetic data is only ever
produced by the labelled sandbox provider).

Any input value containing ``nomatch`` (``last_name="Nomatch"``, ``domain="nomatch.example"``)
gives a ``found=False`` result, so waterfalls can be exercised end to end.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
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
    verdict_confidence,
)
from providers.transforms import band_for_count

_FIRST_NAMES = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie", "Avery")
_LAST_NAMES = ("Example", "Sandbox", "Testperson", "Placeholder", "Demo", "Sample")
_TITLES = (
    ("Head of Sales", "head", "sales"),
    ("VP Marketing", "vp", "marketing"),
    ("Chief Technology Officer", "c_suite", "engineering"),
    ("Operations Manager", "manager", "operations"),
    ("Finance Director", "director", "finance"),
    ("Founder & CEO", "founder", "executive"),
)
_INDUSTRIES = ("Software", "Logistics", "Retail", "Manufacturing", "Financial Services")
_CITIES = (("Springfield", "Oregon"), ("Riverton", "Utah"), ("Fairview", "Texas"))
_TECHNOLOGIES = (
    "Analytics Suite",
    "CRM Platform",
    "Email Delivery",
    "CDN",
    "Payments Gateway",
    "Tag Manager",
    "Chat Widget",
    "A/B Testing",
    "Help Desk",
    "Web Framework",
)
_PATTERNS = ("{first}.{last}", "{f}{last}", "{first}", "{first}{last}", "{first}_{last}")
_SYNTHETIC = {"synthetic": True, "source": "sandbox"}


def _ascii_slug(text: str, sep: str = "") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", sep, plain.lower()).strip(sep)


class SandboxAdapter(Adapter):
    slug = "sandbox"
    label = "Sandbox (synthetic data)"
    docs_url = "https://datatracker.ietf.org/doc/html/rfc2606"
    default_base_url = "sandbox://local"
    credential_fields: ClassVar[tuple[str, ...]] = ()
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.FIND_EMAIL: OperationSpec(
            required=("first_name", "last_name"),
            optional=(),
            outputs=("email", "email_status", "email_score"),
            cost=Decimal(0),
            one_of=(("domain", "company_name"),),
        ),
        Operation.VERIFY_EMAIL: OperationSpec(
            required=("email",),
            optional=(),
            outputs=("email", "email_status", "email_score"),
            cost=Decimal(0),
        ),
        Operation.ENRICH_PERSON: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=(
                "first_name",
                "last_name",
                "full_name",
                "email",
                "email_status",
                "title",
                "seniority",
                "department",
                "linkedin_url",
                "mobile_phone",
                "company_name",
                "domain",
                "city",
                "state",
                "country",
                "location",
            ),
            cost=Decimal(0),
            one_of=(("email", "linkedin_url", "full_name"),),
        ),
        Operation.ENRICH_COMPANY: OperationSpec(
            required=(),
            optional=(),
            outputs=(
                "company_name",
                "domain",
                "industry",
                "company_size",
                "company_revenue",
                "company_linkedin_url",
                "city",
                "state",
                "country",
                "phone",
            ),
            cost=Decimal(0),
            one_of=(("domain", "company_name"),),
        ),
        Operation.SEARCH_PEOPLE: OperationSpec(
            required=(),
            optional=("title", "limit"),
            outputs=("people", "emails"),
            cost=Decimal(0),
            one_of=(("domain", "company_name"),),
        ),
        Operation.TECHNOGRAPHICS: OperationSpec(
            required=("domain",),
            optional=(),
            outputs=("technologies",),
            cost=Decimal(0),
        ),
        Operation.FIND_PHONE: OperationSpec(
            required=(),
            optional=("first_name", "last_name", "domain", "company_name"),
            outputs=("mobile_phone", "phone"),
            cost=Decimal(0),
            one_of=(("full_name", "email", "linkedin_url"),),
        ),
    }

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        # The transport is never used: the sandbox must work with ENRICH_OFFLINE and no network.
        fingerprint = self.fingerprint_inputs(op, inputs)
        if any("nomatch" in str(v).lower() for v in fingerprint.values()):
            return self.no_match({"sandbox": True, "operation": str(op)}, **_SYNTHETIC)
        seed = hashlib.sha256(
            json.dumps([str(op), fingerprint], sort_keys=True).encode()
        ).hexdigest()
        rng = random.Random(int(seed[:16], 16))  # noqa: S311 - synthetic data, not security
        handler = {
            Operation.FIND_EMAIL: self._find_email,
            Operation.VERIFY_EMAIL: self._verify_email,
            Operation.ENRICH_PERSON: self._enrich_person,
            Operation.ENRICH_COMPANY: self._enrich_company,
            Operation.SEARCH_PEOPLE: self._search_people,
            Operation.TECHNOGRAPHICS: self._technographics,
            Operation.FIND_PHONE: self._find_phone,
        }[op]
        values, raw = handler(inputs, rng)
        return ProviderResult(
            found=True,
            fields=build_fields(values),
            raw={"sandbox": True, "operation": str(op), "seed": seed[:16], **raw},
            cost=Decimal(0),
            extra=dict(_SYNTHETIC),
        )

    # --- generators -----------------------------------------------------------------------------

    @staticmethod
    def _domain(inputs: dict[str, Any]) -> str:
        if inputs.get("domain"):
            return inputs["domain"]
        if inputs.get("email") and "@" in inputs["email"]:
            return inputs["email"].rsplit("@", 1)[1]
        return f"{_ascii_slug(inputs.get('company_name') or 'company', '-') or 'company'}.example"

    @staticmethod
    def _company(domain: str) -> str:
        stem = domain.split(".", 1)[0].replace("-", " ").title()
        return f"{stem} Co (sandbox)"

    @staticmethod
    def _email(first: str, last: str, domain: str, rng: random.Random) -> str:
        f, la = _ascii_slug(first) or "x", _ascii_slug(last) or "y"
        local = rng.choice(_PATTERNS).format(first=f, last=la, f=f[0])
        return f"{local}@{domain}"

    @staticmethod
    def _phone(rng: random.Random) -> str:
        return f"+1-555-01{rng.randrange(100):02d}"  # 555-0100..0199 are fictional numbers

    def _person(
        self, rng: random.Random, domain: str, first: str | None = None, last: str | None = None
    ) -> dict[str, Any]:
        first = first or rng.choice(_FIRST_NAMES)
        last = last or rng.choice(_LAST_NAMES)
        title, seniority, department = rng.choice(_TITLES)
        city, state = rng.choice(_CITIES)
        slug = _ascii_slug(f"{first} {last}", "-")
        return {
            "first_name": first,
            "last_name": last,
            "full_name": f"{first} {last}",
            "email": self._email(first, last, domain, rng),
            "email_status": EmailStatus.VALID.value,
            "title": f"{title} (synthetic)",
            "seniority": seniority,
            "department": department,
            "linkedin_url": f"https://linkedin.sandbox.invalid/in/{slug}",
            "mobile_phone": self._phone(rng),
            "company_name": self._company(domain),
            "domain": domain,
            "city": f"{city} (sandbox)",
            "state": f"{state} (sandbox)",
            "country": "ZZ (sandbox)",
            "location": f"{city}, {state} (sandbox)",
        }

    def _find_email(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        domain = self._domain(inputs)
        email = self._email(inputs["first_name"], inputs["last_name"], domain, rng)
        status = EmailStatus.VALID if rng.random() < 0.8 else EmailStatus.CATCH_ALL
        score = rng.randrange(85, 99) if status is EmailStatus.VALID else rng.randrange(40, 70)
        values = {
            "email": (email, score),
            "email_status": (status.value, verdict_confidence(status)),
            "email_score": (score, 100),
        }
        return values, {"email": email, "status": status.value}

    def _verify_email(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        roll = rng.random()
        status = (
            EmailStatus.VALID
            if roll < 0.7
            else EmailStatus.CATCH_ALL
            if roll < 0.85
            else EmailStatus.INVALID
            if roll < 0.95
            else EmailStatus.UNKNOWN
        )
        score = {EmailStatus.VALID: 95, EmailStatus.CATCH_ALL: 50, EmailStatus.INVALID: 5}.get(
            status, 20
        )
        values = {
            "email": (inputs["email"], 100),
            "email_status": (status.value, verdict_confidence(status)),
            "email_score": (score, 100),
        }
        return values, {"email": inputs["email"], "status": status.value}

    def _enrich_person(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        person = self._person(
            rng, self._domain(inputs), inputs.get("first_name"), inputs.get("last_name")
        )
        if inputs.get("email"):
            person["email"] = inputs["email"]
        return {k: (v, 50) for k, v in person.items()}, {"person": person}

    def _enrich_company(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        domain = self._domain(inputs)
        city, state = rng.choice(_CITIES)
        employees = rng.choice((8, 35, 120, 400, 900, 2500, 12000))
        company = {
            "company_name": self._company(domain),
            "domain": domain,
            "industry": f"{rng.choice(_INDUSTRIES)} (synthetic)",
            "company_size": band_for_count(employees),
            "company_revenue": f"${employees * 150_000:,} (synthetic)",
            "company_linkedin_url": f"https://linkedin.sandbox.invalid/company/{domain.split('.')[0]}",
            "city": f"{city} (sandbox)",
            "state": f"{state} (sandbox)",
            "country": "ZZ (sandbox)",
            "phone": self._phone(rng),
        }
        return {k: (v, 50) for k, v in company.items()}, {"company": company}

    def _search_people(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        domain = self._domain(inputs)
        count = min(int(inputs.get("limit") or 5), rng.randrange(3, 6))
        people = []
        for _ in range(max(1, count)):
            person = self._person(rng, domain)
            if inputs.get("title"):
                person["title"] = f"{inputs['title']} (synthetic)"
            person["confidence"] = 50
            people.append(person)
        emails = [
            {
                "email": p["email"],
                "first_name": p["first_name"],
                "last_name": p["last_name"],
                "email_status": p["email_status"],
                "confidence": 50,
            }
            for p in people
        ]
        return {"people": (people, 50), "emails": (emails, 50)}, {"people": people}

    def _technographics(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        names = [f"{t} (sandbox)" for t in rng.sample(_TECHNOLOGIES, rng.randrange(3, 7))]
        return {"technologies": (names, 50)}, {"technologies": names}

    def _find_phone(self, inputs: dict[str, Any], rng: random.Random) -> tuple[dict, dict]:
        mobile, office = self._phone(rng), self._phone(rng)
        return {"mobile_phone": (mobile, 50), "phone": (office, 40)}, {
            "mobile": mobile,
            "office": office,
        }
