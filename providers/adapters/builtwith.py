"""BuiltWith: the technologies a company's website uses (technographics).

Official documentation: https://api.builtwith.com/domain-api

Facts this adapter relies on (from that page):

- ``GET https://api.builtwith.com/v22/api.json?KEY=<key>&LOOKUP=<domain>``. The key is a
  **query parameter** (``KEY``): the transport never puts URLs in messages and
  :meth:`Adapter.call` masks the key out of errors and stored answers.
- ``LIVEONLY=yes`` returns only technologies BuiltWith considers live on the site (the answer
  otherwise includes everything ever detected).
- Answer: ``Results[].Result.Paths[].Technologies[].{Name, Tag, Categories, FirstDetected,
  LastDetected}`` and ``Results[].Meta.{CompanyName, Vertical, ...}``; problems come as
  ``Errors[].{Lookup, Message}``, usually with HTTP 200.
- Credit headers ``X-API-CREDITS-AVAILABLE``, ``X-API-CREDITS-USED``,
  ``X-API-CREDITS-REMAINING``; every lookup uses one credit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from providers.adapters.base import (
    Adapter,
    Operation,
    OperationSpec,
    ProviderResult,
    Transport,
    build_fields,
)
from providers.adapters.values import (
    first_str,
    join_names,
    to_decimal,
)
from providers.errors import AuthenticationError, ProviderError, ProviderFailure, TemporaryError


class BuiltWithAdapter(Adapter):
    slug = "builtwith"
    label = "BuiltWith"
    docs_url = "https://api.builtwith.com/domain-api"
    default_base_url = "https://api.builtwith.com/v22"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.TECHNOGRAPHICS: OperationSpec(
            required=("domain",),
            optional=(),
            outputs=("technologies", "company_name", "industry"),
            # Basic plan: $295 a month for 2,000 lookups, rounded down for larger plans.
            cost=Decimal("0.10"),
        ),
    }

    def auth_params(self) -> dict[str, str]:
        return {"KEY": self.require_credential("api_key")}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        params = {"LOOKUP": inputs["domain"]}
        if self.config.get("live_only", True):
            params["LIVEONLY"] = "yes"
        response, body = self.fetch_json(transport, "GET", "api.json", params=params)
        self._raise_errors(body, response.status)
        remaining = response.headers.get("X-API-CREDITS-REMAINING")
        credits_left = None if remaining is None else to_decimal(remaining, default=Decimal(0))

        details: list[dict[str, Any]] = []
        company = industry = None
        for result in body.get("Results") or []:
            if not isinstance(result, dict):
                continue
            meta = result.get("Meta") if isinstance(result.get("Meta"), dict) else {}
            company = company or first_str(meta.get("CompanyName"))
            industry = industry or first_str(meta.get("Vertical"))
            for path in (result.get("Result") or {}).get("Paths") or []:
                for tech in (path or {}).get("Technologies") or []:
                    if isinstance(tech, dict) and first_str(tech.get("Name")):
                        details.append(
                            {
                                "name": tech["Name"].strip(),
                                "tag": tech.get("Tag"),
                                "categories": tech.get("Categories") or [],
                                "first_detected": tech.get("FirstDetected"),
                                "last_detected": tech.get("LastDetected"),
                            }
                        )
        technologies = join_names(d["name"] for d in details)
        cost = self.cost_for(op)  # the lookup uses a credit whatever it finds
        if not technologies:
            return self.no_match(
                body, cost=cost, http_status=response.status, credits_left=credits_left
            )
        fields = build_fields(
            {
                # Detected on the live site: strong evidence, though tags can linger.
                "technologies": (technologies, 85),
                "company_name": (company, 60),
                "industry": (industry, 50),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=cost,
            credits_left=credits_left,
            http_status=response.status,
            extra={"technology_details": details},
        )

    def _raise_errors(self, body: dict[str, Any], status: int) -> None:
        errors = [e for e in body.get("Errors") or [] if isinstance(e, dict)]
        if not errors or body.get("Results"):
            return
        text = "; ".join(first_str(e.get("Message")) or "error" for e in errors)
        message = f"BuiltWith: {self.mask_text(text)}"
        lowered = text.lower()
        error: ProviderError
        if "key" in lowered:
            error = AuthenticationError("invalid_key", message, http_status=status)
        elif "credit" in lowered or "quota" in lowered:
            error = ProviderFailure("quota_exhausted", message, http_status=status)
        elif "too many" in lowered or "rate" in lowered:
            error = TemporaryError("rate_limited", message, http_status=status)
        else:
            error = ProviderFailure("malformed_response", message, http_status=status)
        raise error
