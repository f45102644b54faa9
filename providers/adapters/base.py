"""The adapter contract: how one data provider's HTTP API becomes canonical lead fields.

An adapter knows one provider: which operations it offers (:class:`OperationSpec`), how to turn
canonical inputs into HTTP requests (:class:`RequestSpec`), how the provider reports failure
(mapped onto :mod:`providers.errors`) and how to read its answers into canonical fields with a
confidence each (:class:`ProviderResult`). It never opens a socket itself: it hands requests to a
:class:`Transport` (``providers.http.HttpTransport`` in production, anything in tests) and the
provider client wraps it with rate limits, retries, the circuit breaker, the cache and the ledger.

Conventions every adapter follows:

- "No match" is a result, ``found=False``, with the cost the provider bills for it (mostly 0),
  never an exception. Adapters may raise ``ProviderFailure("not_found")`` (the common status
  mapping does for HTTP 404); :meth:`Adapter.call` converts it into that result.
- ``ProviderResult.raw`` is the provider's parsed answer, kept so nobody pays to fetch it again.
  Credential values are masked out of it and out of every error message.
- Money is ``Decimal`` in the account currency (USD by default). The per-operation ``cost`` is an
  estimate from the provider's public list price; deployments override it with
  ``config["costs"] = {"find_email": "0.03"}`` (and ``config["credit_price"]`` for providers that
  report credits used).
"""

from __future__ import annotations

import json as jsonlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Protocol, runtime_checkable

from requests.structures import CaseInsensitiveDict

from enrichment.fields import CANONICAL_FIELDS as _CANONICAL_FIELDS
from providers import redaction
from providers.adapters.values import (
    CASE_INSENSITIVE_INPUTS,
    clamp_confidence,
    clip_text,
    ensure_mapping,
    find_message,
    is_blank,
    normalise_inputs,
    parse_retry_after,
    to_decimal,
)
from providers.errors import (
    AuthenticationError,
    ClientError,
    ProviderError,
    ProviderFailure,
    TemporaryError,
)


class Operation(StrEnum):
    FIND_EMAIL = "find_email"
    VERIFY_EMAIL = "verify_email"
    ENRICH_PERSON = "enrich_person"
    ENRICH_COMPANY = "enrich_company"
    SEARCH_PEOPLE = "search_people"
    TECHNOGRAPHICS = "technographics"
    FIND_PHONE = "find_phone"


class EmailStatus(StrEnum):
    """The one vocabulary for ``email_status`` whatever the provider calls it.

    The provider's own word is kept in ``ProviderResult.extra["provider_status"]``.
    """

    VALID = "valid"
    INVALID = "invalid"
    CATCH_ALL = "catch_all"  # the server accepts every address: deliverability unknowable
    DISPOSABLE = "disposable"
    WEBMAIL = "webmail"  # a free mailbox (gmail.com ...): deliverable but not a work address
    RISKY = "risky"  # spam traps, abuse, do-not-mail lists
    UNKNOWN = "unknown"


# The canonical lead fields (DESIGN.md) are defined once, in enrichment/fields.py, a plain
# module with no Django imports; re-exported here for the adapters and transforms.
CANONICAL_FIELDS = _CANONICAL_FIELDS
# Result-only names: verification verdicts and the lists that searches return.
RESULT_ONLY_FIELDS: tuple[str, ...] = ("email_status", "email_score", "emails", "people")
RESULT_FIELDS: tuple[str, ...] = CANONICAL_FIELDS + RESULT_ONLY_FIELDS
# Search parameters some operations accept besides canonical fields.
SEARCH_PARAMETERS: tuple[str, ...] = ("limit",)

REDACTED = redaction.REDACTED
# Keys whose values are secrets wherever they appear in a provider's answer.
_SECRET_KEY_RE = re.compile(
    r"^(api[_-]?key|x-api-key|x-key|access_token|refresh_token|client_secret|password|"
    r"authorization|token)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class OperationSpec:
    """What an operation needs and gives.

    ``required`` must all be present; each group in ``one_of`` needs at least one member
    (``(("domain", "company_name"),)`` = a domain or a company name). Use :meth:`missing`
    rather than reading the tuples, so alternatives are honoured. ``repeatable`` is False
    for an operation that must not be sent again when its answer was lost (a timeout, a
    dropped connection): the provider may have acted on it already (a phone reveal).
    """

    required: tuple[str, ...]
    optional: tuple[str, ...]
    outputs: tuple[str, ...]
    cost: Decimal
    one_of: tuple[tuple[str, ...], ...] = ()
    repeatable: bool = True

    def missing(self, inputs: Mapping[str, Any]) -> list[str]:
        """Human-readable list of what ``inputs`` lacks; empty when the call can be made."""
        absent = [name for name in self.required if is_blank(inputs.get(name))]
        for group in self.one_of:
            if all(is_blank(inputs.get(name)) for name in group):
                absent.append(" or ".join(group))
        return absent

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every input name the operation reads, in a stable order."""
        names: list[str] = []
        for name in (*self.required, *[n for g in self.one_of for n in g], *self.optional):
            if name not in names:
                names.append(name)
        return tuple(names)


@dataclass
class RequestSpec:
    method: str
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: Any = None


@dataclass
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes
    elapsed_ms: float

    def __post_init__(self) -> None:
        # Providers disagree on header case (X-RateLimit-Remaining vs x-ratelimit-remaining).
        if not isinstance(self.headers, CaseInsensitiveDict):
            self.headers = CaseInsensitiveDict(self.headers or {})

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The parsed body; ``ProviderFailure("malformed_response")`` if empty or not JSON."""
        if not self.body.strip():
            raise ProviderFailure(
                "malformed_response", "empty response body", http_status=self.status
            )
        try:
            return jsonlib.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ProviderFailure(
                "malformed_response", "response body is not valid JSON", http_status=self.status
            ) from None


@dataclass
class FieldValue:
    value: Any
    confidence: int

    def __post_init__(self) -> None:
        if not 0 <= self.confidence <= 100:
            raise ValueError(f"confidence must be 0-100, got {self.confidence}")


@dataclass
class ProviderResult:
    found: bool
    fields: dict[str, FieldValue]
    raw: Any
    cost: Decimal
    credits_left: Decimal | None = None
    http_status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str, default: Any = None) -> Any:
        field_value = self.fields.get(name)
        return default if field_value is None else field_value.value

    def confidence(self, name: str) -> int:
        field_value = self.fields.get(name)
        return 0 if field_value is None else field_value.confidence


@runtime_checkable
class Transport(Protocol):
    def send(self, spec: RequestSpec) -> HttpResponse:
        """Send one request. Raises ``TemporaryError("timeout"|"network")``,
        ``ProviderFailure("too_large")`` or ``ClientError("blocked_address"|"offline")``."""
        ...


class Adapter(ABC):
    """One provider. Subclasses set the class attributes and implement :meth:`perform`."""

    slug: ClassVar[str]
    label: ClassVar[str]
    docs_url: ClassVar[str]
    default_base_url: ClassVar[str]
    operations: ClassVar[dict[Operation, OperationSpec]]
    credential_fields: ClassVar[tuple[str, ...]] = ("api_key",)
    #: Statuses this provider uses differently from the common mapping in
    #: :meth:`error_for_status`: ``{403: (TemporaryError, "rate_limited")}``.
    status_overrides: ClassVar[dict[int, tuple[type[ProviderError], str]]] = {}
    #: Price of one provider credit, for adapters that bill by credits reported in the answer.
    credit_price: ClassVar[Decimal | None] = None

    def __init__(
        self,
        *,
        base_url: str | None = None,
        credentials: Mapping[str, str],
        config: Mapping[str, Any] | None = None,
        provider_id: int | None = None,
    ) -> None:
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        #: The stored ``Provider`` this adapter speaks for, when it was built from one: state
        #: kept beyond a call (a pending phone reveal) belongs to that row.
        self.provider_id = provider_id
        self.credentials: dict[str, str] = {
            k: str(v) for k, v in (credentials or {}).items() if v is not None
        }
        self.config: dict[str, Any] = dict(config or {})
        # Values that must never leave this object: credentials plus tokens obtained at run time.
        self._secrets: set[str] = {v for v in self.credentials.values() if len(v) >= 4}

    # --- the public entry point ---------------------------------------------------------------

    def call(
        self, op: Operation, inputs: Mapping[str, Any], transport: Transport
    ) -> ProviderResult:
        """Validate, request, map errors, parse. See the module docstring for the conventions."""
        return self.call_prepared(op, self.prepare_inputs(inputs), transport)

    def call_prepared(
        self, op: Operation, prepared: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        """:meth:`call` for inputs already through :meth:`prepare_inputs` (the provider client
        prepares them once for its checks, the cache key and the call)."""
        spec = self.spec_for(op)
        op = Operation(op)
        absent = spec.missing(prepared)
        if absent:
            raise ClientError("missing_field", f"{self.label} {op} needs {', '.join(absent)}")
        try:
            result = self.perform(op, prepared, transport)
        except ProviderFailure as exc:
            if exc.code != "not_found":
                raise self._masked(exc) from None
            result = self.no_match(None, http_status=exc.http_status)
        except ProviderError as exc:
            raise self._masked(exc) from None
        # Whatever stores the result (answer store, ledger, contacts) sees only masked data.
        result = redaction.redact_result(result, self._secrets)
        result.raw = self.mask(result.raw)
        result.extra = self.mask(result.extra)
        return result

    @abstractmethod
    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        """Do the operation with validated, normalised inputs."""

    # --- inputs ---------------------------------------------------------------------------------

    def spec_for(self, op: Operation) -> OperationSpec:
        try:
            return self.operations[Operation(op)]
        except (KeyError, ValueError):
            raise ClientError("invalid_request", f"{self.label} does not support {op}") from None

    def prepare_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Normalised copy of ``inputs``: stripped, blank values dropped, names completed."""
        return normalise_inputs(inputs)

    def fingerprint_inputs(self, op: Operation, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs that decide the answer, normalised, for the response cache key."""
        return self.fingerprint_prepared(op, self.prepare_inputs(inputs))

    def fingerprint_prepared(self, op: Operation, prepared: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`fingerprint_inputs` for inputs already through :meth:`prepare_inputs`."""
        spec = self.spec_for(op)
        fingerprint: dict[str, Any] = {}
        for name in sorted(spec.accepted):
            value = prepared.get(name)
            if is_blank(value):
                continue
            if isinstance(value, str) and name in CASE_INSENSITIVE_INPUTS:
                value = value.lower()
            fingerprint[name] = value
        return fingerprint

    def require_credential(self, name: str = "api_key") -> str:
        value = self.credentials.get(name, "").strip()
        if not value:
            raise AuthenticationError("invalid_key", f"{self.label}: no {name} configured")
        return value

    def cost_for(self, op: Operation) -> Decimal:
        """The configured price of one successful ``op`` (the spec's estimate by default)."""
        override = (self.config.get("costs") or {}).get(str(op))
        if override is not None:
            return to_decimal(override, default=self.spec_for(op).cost)
        return self.spec_for(op).cost

    def credits_cost(self, credits: Any) -> Decimal:
        """Money for ``credits`` provider credits, at ``config["credit_price"]`` or the default."""
        price = to_decimal(self.config.get("credit_price"), default=self.credit_price or Decimal(0))
        return (to_decimal(credits, default=Decimal(0)) * price).quantize(Decimal("0.0001"))

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    # --- requests -------------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate every request (override per provider)."""
        return {}

    def auth_params(self) -> dict[str, str]:
        """Query parameters that authenticate every request (override per provider)."""
        return {}

    def request(
        self,
        transport: Transport,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        """Send one authenticated request to ``path`` under the base URL."""
        # None means "not given"; an empty string is sent (ZeroBounce requires ip_address=).
        query = {k: v for k, v in (params or {}).items() if v is not None and v != []}
        spec = RequestSpec(
            method=method,
            url=self.url(path),
            params={**query, **self.auth_params()},
            headers={**self.auth_headers(), **(headers or {})},
            json=json,
            data=data,
        )
        return transport.send(spec)

    def fetch_json(
        self, transport: Transport, method: str, path: str, **kwargs: Any
    ) -> tuple[HttpResponse, dict[str, Any]]:
        """:meth:`request`, then the status mapping, then the body as a JSON object."""
        response = self.request(transport, method, path, **kwargs)
        self.raise_for_status(response)
        return response, ensure_mapping(response.json(), http_status=response.status)

    # --- responses ------------------------------------------------------------------------------

    def error_for_status(self, response: HttpResponse) -> ProviderError | None:
        """The taxonomy error an unsuccessful status means, or ``None`` for 2xx."""
        status = response.status
        detail = self.provider_message(response)
        message = f"{self.label} answered HTTP {status}" + (f": {detail}" if detail else "")
        if status in self.status_overrides:
            cls, code = self.status_overrides[status]
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            return cls(code, message, http_status=status, retry_after=retry_after)
        if 200 <= status < 300:
            return None
        if status == 401:
            return AuthenticationError("invalid_key", message, http_status=status)
        if status == 403:
            return AuthenticationError("insufficient_permissions", message, http_status=status)
        if status == 402:
            return ProviderFailure("quota_exhausted", message, http_status=status)
        if status == 404:
            return ProviderFailure("not_found", message, http_status=status)
        if status == 408:
            return TemporaryError("timeout", message, http_status=status)
        if status == 413:
            return ProviderFailure("too_large", message, http_status=status)
        if status == 429:
            return TemporaryError(
                "rate_limited",
                message,
                http_status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            return TemporaryError(
                "server_error",
                message,
                http_status=status,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if 400 <= status < 500:
            return ClientError("invalid_request", message, http_status=status)
        # 1xx and 3xx: redirects are not followed across hosts, so this is not an answer.
        return ProviderFailure("malformed_response", message, http_status=status)

    def raise_for_status(self, response: HttpResponse) -> None:
        error = self.error_for_status(response)
        if error is not None:
            raise error

    def provider_message(self, response: HttpResponse) -> str:
        """The provider's own error text from the body, masked and shortened ('' if none)."""
        if response.status < 300 or not response.body.strip():
            return ""
        try:
            body = jsonlib.loads(response.body)
        except (ValueError, UnicodeDecodeError):
            return ""
        return self.mask_text(clip_text(find_message(body)))

    def no_match(
        self,
        raw: Any,
        *,
        cost: Decimal = Decimal(0),
        http_status: int | None = None,
        credits_left: Decimal | None = None,
        **extra: Any,
    ) -> ProviderResult:
        """A ``found=False`` result; ``cost`` is what the provider bills for a miss."""
        return ProviderResult(
            found=False,
            fields={},
            raw=raw,
            cost=cost,
            credits_left=credits_left,
            http_status=http_status,
            extra=dict(extra),
        )

    # --- secrets --------------------------------------------------------------------------------

    def add_secret(self, value: str | None) -> None:
        """Mask ``value`` (an OAuth token obtained at run time) like a credential."""
        if value and len(value) >= 4:
            self._secrets.add(value)

    def mask_text(self, text: str) -> str:
        return redaction.mask_text(text, self._secrets)

    def mask(self, value: Any) -> Any:
        """A copy of ``value`` without credential values or secret-named keys' values."""
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, Mapping):
            return {
                k: (REDACTED if isinstance(k, str) and _SECRET_KEY_RE.match(k) else self.mask(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.mask(v) for v in value]
        return value

    def _masked(self, exc: ProviderError) -> ProviderError:
        masked = self.mask_text(exc.message)
        return exc if masked == exc.message else exc.with_message(masked)


# --- helpers that need the classes above ----------------------------------------------------

# How sure a found address is, by verdict, when the provider gives no score of its own.
_EMAIL_CONFIDENCE = {
    EmailStatus.VALID: 90,
    EmailStatus.CATCH_ALL: 55,
    EmailStatus.WEBMAIL: 60,
    EmailStatus.UNKNOWN: 40,
    EmailStatus.RISKY: 20,
    EmailStatus.DISPOSABLE: 10,
    EmailStatus.INVALID: 5,
}
# How sure a verification verdict is: "invalid" from a mailbox check is as firm as "valid";
# "unknown" says almost nothing.
_VERDICT_CONFIDENCE = {
    EmailStatus.VALID: 95,
    EmailStatus.INVALID: 90,
    EmailStatus.DISPOSABLE: 90,
    EmailStatus.WEBMAIL: 85,
    EmailStatus.RISKY: 80,
    EmailStatus.CATCH_ALL: 60,
    EmailStatus.UNKNOWN: 10,
}


def email_confidence(status: EmailStatus, score: Any = None) -> int:
    """The provider's 0-100 score when it gives one, else a default for the verdict."""
    return clamp_confidence(score, default=_EMAIL_CONFIDENCE[status])


def verdict_confidence(status: EmailStatus) -> int:
    return _VERDICT_CONFIDENCE[status]


def build_fields(values: Mapping[str, tuple[Any, int]]) -> dict[str, FieldValue]:
    """``{"email": ("a@b.co", 90)}`` → FieldValues, dropping blank values."""
    return {
        name: FieldValue(value, max(0, min(100, int(confidence))))
        for name, (value, confidence) in values.items()
        if not is_blank(value)
    }
