"""SerpApi: find LinkedIn profiles of people at a company with a given title, through Google.

Official documentation: https://serpapi.com/search-api
(organic results: https://serpapi.com/organic-results; errors: https://serpapi.com/search-errors).

Facts this adapter relies on:

- ``GET https://serpapi.com/search.json?engine=google&q=...&num=...&api_key=``; the key is a
  **query parameter**, masked out of errors and stored answers by :meth:`Adapter.call`.
- ``q`` takes Google operators, so ``site:linkedin.com/in "Acme" "Head of Sales"`` returns
  public profiles; each ``organic_results[]`` item has ``title``, ``link``, ``snippet``. Google
  titles profiles as "Name - Title - Company | LinkedIn" (fewer parts when LinkedIn lacks them).
- "If a search has failed or contains empty results, the top level ``error`` key will contain an
  error message"; an empty search is still ``search_metadata.status`` "Success" (and is billed):
  its error reads "Google hasn't returned any results for this query." Other errors come with
  4xx/5xx statuses: 401 invalid key, 429 for both the hourly throughput limit and an account
  that has run out of searches (told apart by the message).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import urlsplit

from providers.adapters.base import (
    Adapter,
    HttpResponse,
    Operation,
    OperationSpec,
    ProviderResult,
    Transport,
    build_fields,
)
from providers.adapters.values import (
    ensure_mapping,
    first_str,
)
from providers.errors import ProviderError, ProviderFailure

_NO_RESULTS = "hasn't returned any results"
_SUFFIX_RE = re.compile(r"\s*(?:[|\-–—]|\bon)\s*LinkedIn\s*$", re.IGNORECASE)
_SEPARATOR_RE = re.compile(r"\s+[-–—|]\s+")
_CREDENTIALS_RE = re.compile(r",\s*[A-Z][A-Za-z.]{1,6}(?:,\s*[A-Z][A-Za-z.]{1,6})*$")
_PROFILE_PATH_RE = re.compile(r"^/in/([^/?#]+)")


def profile_url(link: str) -> str | None:
    """``https://uk.linkedin.com/in/jane-doe-123?trk=x`` → ``https://www.linkedin.com/in/jane-doe-123``."""
    parts = urlsplit(link)
    host = (parts.hostname or "").lower()
    if not (host == "linkedin.com" or host.endswith(".linkedin.com")):
        return None
    match = _PROFILE_PATH_RE.match(parts.path)
    return f"https://www.linkedin.com/in/{match[1]}" if match else None


def parse_profile_title(title: str, company_hint: str | None = None) -> dict[str, str | None]:
    """Split a Google result title for a LinkedIn profile into name, title and company."""
    text = _SUFFIX_RE.sub("", title.strip())
    parts = [p.strip() for p in _SEPARATOR_RE.split(text) if p.strip()]
    if not parts:
        return {"full_name": None, "title": None, "company_name": None}
    name = _CREDENTIALS_RE.sub("", parts[0]).strip()
    job_title = company = None
    if len(parts) >= 3:
        job_title, company = parts[1], parts[2]
    elif len(parts) == 2:
        rest = parts[1]
        if " at " in rest:
            job_title, company = (s.strip() for s in rest.split(" at ", 1))
        elif company_hint and company_hint.lower() in rest.lower():
            company = rest
        else:
            job_title = rest
    return {"full_name": name or None, "title": job_title, "company_name": company}


def _quoted(text: str) -> str:
    return '"' + text.replace('"', " ").strip() + '"'


class SerpApiAdapter(Adapter):
    slug = "serpapi"
    label = "SerpApi"
    docs_url = "https://serpapi.com/search-api"
    default_base_url = "https://serpapi.com"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.SEARCH_PEOPLE: OperationSpec(
            required=(),
            optional=("title", "limit"),
            outputs=("people",),
            # Developer plan: $75 for 5,000 searches.
            cost=Decimal("0.015"),
            one_of=(("company_name", "domain"),),
        ),
    }

    def auth_params(self) -> dict[str, str]:
        return {"api_key": self.require_credential("api_key")}

    def build_query(self, inputs: dict[str, Any]) -> str:
        company = inputs.get("company_name") or inputs["domain"]
        query = f"site:linkedin.com/in {_quoted(company)}"
        if inputs.get("title"):
            query += f" {_quoted(inputs['title'])}"
        return query

    def error_for_status(self, response: HttpResponse) -> ProviderError | None:
        error = super().error_for_status(response)
        # One status for two situations: the hourly throughput limit (wait) and an account
        # out of searches (waiting will not help).
        if (
            error is not None
            and response.status == 429
            and any(w in error.message.lower() for w in ("run out of searches", "plan"))
        ):
            return ProviderFailure("quota_exhausted", error.message, http_status=429)
        return error

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        company = inputs.get("company_name") or inputs["domain"]
        limit = max(1, min(100, int(inputs.get("limit") or 10)))
        params = {"engine": "google", "q": self.build_query(inputs), "num": limit}
        response = self.request(transport, "GET", "search.json", params=params)
        self.raise_for_status(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        cost = self.cost_for(op)  # a completed search is billed, empty or not
        error = first_str(body.get("error"))
        if error:
            if _NO_RESULTS in error.lower():
                return self.no_match(
                    body, cost=cost, http_status=response.status, query=params["q"]
                )
            raise ProviderFailure(
                "malformed_response",
                f"SerpApi: {self.mask_text(error)}",
                http_status=response.status,
            )

        people: list[dict[str, Any]] = []
        seen: set[str] = set()
        for item in body.get("organic_results") or []:
            if not isinstance(item, dict):
                continue
            url = profile_url(first_str(item.get("link")) or "")
            if url is None or url in seen:
                continue
            parsed = parse_profile_title(first_str(item.get("title")) or "", company)
            if not parsed["full_name"]:
                continue
            seen.add(url)
            name_parts = parsed["full_name"].split()
            text = " ".join(filter(None, (item.get("title"), item.get("snippet")))).lower()
            # Judge by the current title and company Google shows for the profile when it shows
            # them (snippets also mention former jobs), else by any mention. Google returns
            # former employees and namesakes too, so even a full match stays below certainty.
            company_text = (parsed["company_name"] or text).lower()
            title_text = (parsed["title"] or text).lower()
            confidence = 60 if company.lower() in company_text else 35
            if inputs.get("title") and inputs["title"].lower() not in title_text:
                confidence -= 10
            people.append(
                {
                    "full_name": parsed["full_name"],
                    "first_name": name_parts[0],
                    "last_name": name_parts[-1] if len(name_parts) > 1 else None,
                    "title": parsed["title"],
                    "company_name": parsed["company_name"] or company,
                    "linkedin_url": url,
                    "domain": inputs.get("domain"),
                    "confidence": confidence,
                    "snippet": first_str(item.get("snippet")),
                }
            )
        if not people:
            return self.no_match(body, cost=cost, http_status=response.status, query=params["q"])
        return ProviderResult(
            found=True,
            fields=build_fields({"people": (people, max(p["confidence"] for p in people))}),
            raw=body,
            cost=cost,
            http_status=response.status,
            extra={
                "query": params["q"],
                "search_id": (body.get("search_metadata") or {}).get("id"),
            },
        )
