"""ZeroBounce: email verification.

Official documentation:
https://www.zerobounce.net/docs/email-validation-api-quickstart/v2-validate-emails
(credit balance: https://www.zerobounce.net/docs/email-validation-api-quickstart/#get_credit_balance__v2__;
official SDKs: https://github.com/zerobounce).

Facts this adapter relies on:

- ``GET https://api.zerobounce.net/v2/validate?api_key=&email=&ip_address=`` (``api-us`` and
  ``api-eu`` hosts exist for data residency: set the base URL). The key is a **query
  parameter**, so it sits in every request URL: the transport never puts URLs in messages and
  :meth:`Adapter.call` masks the key out of errors and stored answers.
- Answer: ``status`` (valid | invalid | catch-all | unknown | spamtrap | abuse | do_not_mail),
  ``sub_status`` (role_based, disposable, mailbox_not_found, greylisted ...), ``free_email``,
  ``did_you_mean``, ``mx_found``, and sometimes ``firstname``/``lastname``/``city``/``region``/
  ``country``/``zipcode``. Failed validations still return HTTP 200.
- "Will never consume a credit for any unknown result."
- A bad key or an empty account both come back as HTTP 200
  ``{"error": "Invalid API key or your account ran out of credits"}``; ``GET /getcredits``
  (``{"Credits": "-1"}`` for an invalid key) tells the two apart.
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
    verdict_confidence,
)
from providers.adapters.values import (
    ensure_mapping,
    first_str,
    to_decimal,
)
from providers.errors import AuthenticationError, ProviderError, ProviderFailure

_STATUS = {
    "valid": EmailStatus.VALID,
    "invalid": EmailStatus.INVALID,
    "catch-all": EmailStatus.CATCH_ALL,
    "unknown": EmailStatus.UNKNOWN,
    "spamtrap": EmailStatus.RISKY,
    "abuse": EmailStatus.RISKY,
    "do_not_mail": EmailStatus.RISKY,
}


class ZeroBounceAdapter(Adapter):
    slug = "zerobounce"
    label = "ZeroBounce"
    docs_url = "https://www.zerobounce.net/docs/email-validation-api-quickstart/v2-validate-emails"
    default_base_url = "https://api.zerobounce.net/v2"
    operations: ClassVar[dict[Operation, OperationSpec]] = {
        Operation.VERIFY_EMAIL: OperationSpec(
            required=("email",),
            optional=(),
            outputs=(
                "email",
                "email_status",
                "first_name",
                "last_name",
                "city",
                "state",
                "country",
                "zip_code",
            ),
            # 2,000 validations for $16.
            cost=Decimal("0.008"),
        ),
    }

    def auth_params(self) -> dict[str, str]:
        return {"api_key": self.require_credential("api_key")}

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        params = {"email": inputs["email"], "ip_address": ""}
        response = self.request(transport, "GET", "validate", params=params)
        self.raise_for_status(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        if first_str(body.get("error")) and not body.get("status"):
            raise self._explain_error(body, response, transport)
        raw_status = str(body.get("status") or "").lower()
        if raw_status not in _STATUS:
            raise ProviderFailure(
                "malformed_response",
                f"ZeroBounce returned an unexpected status {raw_status!r}",
                http_status=response.status,
            )
        sub_status = str(body.get("sub_status") or "").lower()
        status = _STATUS[raw_status]
        if raw_status == "do_not_mail" and sub_status == "disposable":
            status = EmailStatus.DISPOSABLE
        fields = build_fields(
            {
                "email": (first_str(body.get("address")) or inputs["email"], 100),
                "email_status": (status.value, verdict_confidence(status)),
                # ZeroBounce appends owner data from its own records when it has them.
                "first_name": (first_str(body.get("firstname")), 50),
                "last_name": (first_str(body.get("lastname")), 50),
                "city": (first_str(body.get("city")), 40),
                "state": (first_str(body.get("region")), 40),
                "country": (first_str(body.get("country")), 40),
                "zip_code": (first_str(body.get("zipcode")), 40),
            }
        )
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=Decimal(0) if status is EmailStatus.UNKNOWN else self.cost_for(op),
            http_status=response.status,
            extra={
                "provider_status": raw_status,
                "sub_status": sub_status or None,
                "free_email": body.get("free_email"),
                "did_you_mean": body.get("did_you_mean"),
                "mx_found": body.get("mx_found"),
                "mx_record": body.get("mx_record"),
            },
        )

    def _explain_error(
        self, body: dict[str, Any], response: HttpResponse, transport: Transport
    ) -> ProviderError:
        """Tell a bad key from an empty account with the (free) credit balance call."""
        message = f"ZeroBounce: {self.mask_text(first_str(body.get('error')) or 'error')}"
        lowered = message.lower()
        if "key" not in lowered and "credit" not in lowered:
            return ProviderFailure("malformed_response", message, http_status=response.status)
        try:
            _, credits_body = self.fetch_json(transport, "GET", "getcredits")
        except ProviderError:
            # The balance call failed too: the key is the likelier culprit, and an admin has
            # to look at the account either way.
            return AuthenticationError("invalid_key", message, http_status=response.status)
        credits = to_decimal(credits_body.get("Credits"), default=Decimal(-1))
        if credits < 0:
            return AuthenticationError(
                "invalid_key", "ZeroBounce rejected the API key", http_status=response.status
            )
        return ProviderFailure(
            "quota_exhausted", "ZeroBounce account has no credits left", http_status=response.status
        )
