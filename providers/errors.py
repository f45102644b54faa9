"""One exception hierarchy for everything that can go wrong when talking to a data provider.

Every failure an adapter or the transport reports is a :class:`ProviderError` with a ``kind``
that tells the caller what to do about it:

``temporary``       try again later (``retryable``); ``retry_after`` says when, if the provider said.
``authentication``  the credentials are wrong, expired or not allowed: an admin has to act.
``client``          our request was bad (missing input, blocked address, offline mode): retrying
                    the same request cannot help.
``provider``        the provider answered but not usefully (quota exhausted, garbage, too large).
``budget_exhausted`` refused before sending: the call would exceed a budget or a job's cap
                    (:class:`BudgetExhausted`, which names it); an admin has to raise it.

"No match" is *not* an exception: adapters return ``ProviderResult(found=False)``. The
``ProviderFailure("not_found")`` code exists so an adapter can signal it from deep inside its
parsing; :meth:`providers.adapters.base.Adapter.call` turns it into a ``found=False`` result.

Messages never contain credentials: adapters build them from our own words plus the provider's
error text with every credential value masked (see ``Adapter.call``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorKind(StrEnum):
    TEMPORARY = "temporary"
    AUTHENTICATION = "authentication"
    CLIENT = "client"
    PROVIDER = "provider"
    BUDGET_EXHAUSTED = "budget_exhausted"


class ProviderError(Exception):
    """Base class; raise one of the subclasses so ``kind`` is right."""

    kind: ClassVar[ErrorKind] = ErrorKind.PROVIDER
    #: The codes this kind documents. Not enforced, so a new code elsewhere (the circuit
    #: breaker, the budget guard) does not crash at raise time; tests check adapters use these.
    CODES: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.code = code
        self.message = message or code.replace("_", " ")
        self.http_status = http_status
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def retryable(self) -> bool:
        return self.kind is ErrorKind.TEMPORARY

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the API layer and job rows use."""
        return {
            "error": self.code,
            "kind": str(self.kind),
            "message": self.message,
            "http_status": self.http_status,
            "retry_after": self.retry_after,
        }

    def with_message(self, message: str) -> ProviderError:
        """A copy with another message (used to mask credentials), same class and fields."""
        return type(self)(
            self.code, message, http_status=self.http_status, retry_after=self.retry_after
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Celery pickles exceptions between processes; the default reduce would call
        # __init__(message) and lose code, status and retry_after.
        return (
            _rebuild,
            (type(self), self.code, self.message, self.http_status, self.retry_after),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


def _rebuild(
    cls: type[ProviderError],
    code: str,
    message: str,
    http_status: int | None,
    retry_after: float | None,
) -> ProviderError:
    return cls(code, message, http_status=http_status, retry_after=retry_after)


class TemporaryError(ProviderError):
    kind = ErrorKind.TEMPORARY
    CODES = frozenset({"timeout", "rate_limited", "server_error", "network"})


class AuthenticationError(ProviderError):
    kind = ErrorKind.AUTHENTICATION
    CODES = frozenset({"invalid_key", "expired_token", "insufficient_permissions", "suspended"})


class ClientError(ProviderError):
    kind = ErrorKind.CLIENT
    CODES = frozenset({"invalid_request", "missing_field", "blocked_address", "offline"})


class ProviderFailure(ProviderError):
    kind = ErrorKind.PROVIDER
    CODES = frozenset(
        {"not_found", "low_confidence", "quota_exhausted", "malformed_response", "too_large"}
    )


class BudgetExhausted(ProviderError):
    """A paid call refused before sending because it would exceed ``budget`` (its label)."""

    kind = ErrorKind.BUDGET_EXHAUSTED
    CODES = frozenset({"budget_exhausted"})

    def __init__(
        self, budget: str, message: str = "", *, amount: Any = None, **kwargs: Any
    ) -> None:
        self.budget = budget
        #: What the refused call needed (a Decimal), when known.
        self.amount = amount
        super().__init__("budget_exhausted", message or f"budget exhausted: {budget}", **kwargs)

    def with_message(self, message: str) -> ProviderError:
        return type(self)(self.budget, message, amount=self.amount)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_budget, (self.budget, self.message, self.amount))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "budget": self.budget}


def _rebuild_budget(budget: str, message: str, amount: Any) -> BudgetExhausted:
    return BudgetExhausted(budget, message, amount=amount)
