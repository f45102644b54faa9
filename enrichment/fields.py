"""The canonical lead fields (DESIGN.md) and the header aliases used to map CSV columns."""

from __future__ import annotations

CANONICAL_FIELDS: tuple[str, ...] = (
    "first_name", "last_name", "full_name", "email", "personal_email", "phone", "mobile_phone",
    "title", "seniority", "department", "company_name", "domain", "linkedin_url",
    "company_linkedin_url", "city", "state", "country", "zip_code", "location", "industry",
    "company_size", "company_revenue", "technologies",
)

# Fields the `enrich` command adds to every output row besides the canonical ones.
EMAIL_RESULT_FIELDS: tuple[str, ...] = (
    "email_status", "email_confidence", "email_source", "email_pattern", "email_reason",
)

# Header spellings seen in exports from CRMs and data tools, normalised (lower case, words
# separated by one space). The first field whose alias matches a header wins.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "first", "given name", "fname", "forename"),
    "last_name": ("last name", "lastname", "last", "surname", "family name", "lname"),
    "full_name": ("full name", "name", "contact name", "contact", "person", "person name"),
    "email": (
        "email", "work email", "business email", "email address", "e mail", "mail",
        "corporate email", "professional email",
    ),
    "personal_email": ("personal email", "private email", "home email"),
    "phone": ("phone", "phone number", "work phone", "office phone", "telephone", "tel"),
    "mobile_phone": ("mobile", "mobile phone", "cell", "cell phone", "mobile number"),
    "title": ("title", "job title", "position", "role", "job", "designation"),
    "seniority": ("seniority", "level", "seniority level"),
    "department": ("department", "function", "team"),
    "company_name": (
        "company", "company name", "organization", "organisation", "account", "account name",
        "employer", "business", "org",
    ),
    "domain": (
        "domain", "company domain", "website", "company website", "url", "web", "site",
        "homepage", "company url", "email domain",
    ),
    "linkedin_url": ("linkedin", "linkedin url", "linkedin profile", "person linkedin url",
                     "li url", "profile url"),
    "company_linkedin_url": ("company linkedin", "company linkedin url"),
    "city": ("city", "town"),
    "state": ("state", "region", "province", "county"),
    "country": ("country", "country code", "nation"),
    "zip_code": ("zip", "zip code", "postcode", "postal code"),
    "location": ("location", "address"),
    "industry": ("industry", "sector", "vertical"),
    "company_size": ("company size", "employees", "employee count", "headcount", "size",
                     "number of employees"),
    "company_revenue": ("revenue", "company revenue", "annual revenue"),
    "technologies": ("technologies", "tech stack", "technographics"),
}
