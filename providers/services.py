"""State changes for provider configurations: export, import (validated), connection test."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from providers.adapters import get_adapter_class
from providers.adapters.base import Operation, ProviderResult
from providers.errors import ProviderError
from providers.models import Provider, ProviderKind

EXPORT_VERSION = 1

# One harmless, well-known input per operation for `providers test`.
CANNED_INPUTS: dict[str, dict[str, str]] = {
    Operation.FIND_EMAIL: {
        "first_name": "Patrick",
        "last_name": "Collison",
        "domain": "stripe.com",
    },
    Operation.VERIFY_EMAIL: {"email": "patrick@stripe.com"},
    Operation.ENRICH_PERSON: {
        "email": "patrick@stripe.com",
        "first_name": "Patrick",
        "last_name": "Collison",
        "domain": "stripe.com",
    },
    Operation.ENRICH_COMPANY: {"domain": "stripe.com", "company_name": "Stripe"},
    Operation.SEARCH_PEOPLE: {
        "domain": "stripe.com",
        "company_name": "Stripe",
        "title": "Head of Sales",
    },
    Operation.TECHNOGRAPHICS: {"domain": "stripe.com"},
    Operation.FIND_PHONE: {
        "first_name": "Patrick",
        "last_name": "Collison",
        "domain": "stripe.com",
        "linkedin_url": "https://www.linkedin.com/in/patrickcollison",
    },
}

_IMPORT_FIELDS = {
    "name": str,
    "kind": str,
    "adapter": str,
    "base_url": str,
    "enabled": bool,
    "priority": int,
    "rate_limit_per_minute": (int, type(None)),
    "concurrency": int,
    "daily_quota": (int, type(None)),
    "cache_ttl_days": (int, type(None)),
    "operation_prices": dict,
    "config": dict,
}


class ProviderImportError(ValueError):
    """The import file is not valid; nothing was changed."""


def provider_export_all() -> dict[str, Any]:
    """Every provider's configuration; credential *names* only, never values."""
    return {
        "version": EXPORT_VERSION,
        "providers": [p.config_for_export() for p in Provider.objects.order_by("slug")],
    }


def _validate_entry(index: int, entry: Any) -> dict[str, Any]:
    where = f"providers[{index}]"
    if not isinstance(entry, dict):
        raise ProviderImportError(f"{where}: expected an object")
    slug = entry.get("slug")
    if not isinstance(slug, str) or not slug:
        raise ProviderImportError(f"{where}: 'slug' is required")
    where = f"provider {slug!r}"
    if any(k in entry for k in ("credentials", "credentials_encrypted", "api_key")):
        raise ProviderImportError(f"{where}: credentials cannot be imported; set them in the admin")
    values: dict[str, Any] = {}
    for name, kind in _IMPORT_FIELDS.items():
        if name in entry:
            if not isinstance(entry[name], kind) or (kind is int and isinstance(entry[name], bool)):
                raise ProviderImportError(f"{where}: {name!r} has the wrong type")
            values[name] = entry[name]
    for name in ("timeout_seconds", "price_per_call"):
        if name in entry:
            try:
                values[name] = Decimal(str(entry[name]))
            except InvalidOperation:
                raise ProviderImportError(f"{where}: {name!r} is not a number") from None
            if values[name] < 0:
                raise ProviderImportError(f"{where}: {name!r} is negative")
    adapter = values.get("adapter") or entry.get("adapter")
    if not adapter:
        raise ProviderImportError(f"{where}: 'adapter' is required")
    try:
        get_adapter_class(adapter)
    except (KeyError, ValueError):
        raise ProviderImportError(f"{where}: unknown adapter {adapter!r}") from None
    if values.get("kind", ProviderKind.BUILTIN) not in ProviderKind.values:
        raise ProviderImportError(f"{where}: unknown kind {values['kind']!r}")
    if adapter == "generic":
        from providers.transforms import validate_generic_config

        errors = validate_generic_config(values.get("config", {}))
        if errors:
            raise ProviderImportError(f"{where}: {'; '.join(errors)}")
    values.setdefault("name", slug)
    return {"slug": slug, **values}


@transaction.atomic
def provider_import(data: Any) -> tuple[int, int]:
    """Create or update providers from an export. All or nothing. Returns (created, updated)."""
    if not isinstance(data, dict) or not isinstance(data.get("providers"), list):
        raise ProviderImportError("expected an object with a 'providers' list")
    if data.get("version", EXPORT_VERSION) != EXPORT_VERSION:
        raise ProviderImportError(f"unsupported export version {data.get('version')!r}")
    entries = [_validate_entry(i, e) for i, e in enumerate(data["providers"])]
    created = updated = 0
    for values in entries:
        slug = values.pop("slug")
        _, was_created = Provider.objects.update_or_create(slug=slug, defaults=values)
        created += was_created
        updated += not was_created
    return created, updated


@dataclass
class ConnectionTest:
    """What one test call gave: ``ok`` is False for any error, ``synthetic`` when the answer
    is made-up data (the sandbox)."""

    ok: bool
    operation: str
    latency_ms: float
    status: str
    fields: dict[str, Any]
    error: str = ""
    synthetic: bool = False


def _test_inputs(provider: Provider, op: Operation) -> dict[str, str]:
    """The canned input for ``op``. A generic provider may need any canonical field, so it
    gets the whole canned person (the built-in adapters get exactly the documented input)."""
    if provider.adapter != "generic":
        return CANNED_INPUTS[op]
    everything: dict[str, str] = {}
    for inputs in CANNED_INPUTS.values():
        everything.update(inputs)
    return {**everything, **CANNED_INPUTS[op]}


def provider_test_connection(provider: Provider, operation: str | None = None) -> ConnectionTest:
    """Make one real call with a canned input, bypassing the cache.

    ``ValueError`` when there is nothing to test (an unknown operation, none configured).
    """
    from providers.client import call_provider

    adapter_class = get_adapter_class(provider.adapter)
    if operation:
        try:
            ops = [Operation(operation)]
        except ValueError:
            known = ", ".join(o.value for o in Operation)
            raise ValueError(f"unknown operation {operation!r} (use one of {known})") from None
    else:
        ops = list(adapter_class.operations)
        if not ops and provider.adapter == "generic":
            configured = (provider.config or {}).get("operations") or {}
            ops = [Operation(o) for o in configured if o in {op.value for op in Operation}]
    if not ops:
        raise ValueError(f"{provider.slug} supports no operation")
    op = ops[0]
    started = time.perf_counter()
    try:
        result: ProviderResult = call_provider(
            provider, op, _test_inputs(provider, op), use_cache=False, max_attempts=1
        )
    except ProviderError as exc:
        return ConnectionTest(
            ok=False,
            operation=op,
            latency_ms=(time.perf_counter() - started) * 1000,
            status=f"{exc.kind}:{exc.code}",
            fields={},
            error=str(exc),
        )
    return ConnectionTest(
        ok=True,
        operation=op,
        latency_ms=(time.perf_counter() - started) * 1000,
        status="found" if result.found else "no match",
        fields={
            k: {"value": v.value, "confidence": v.confidence} for k, v in result.fields.items()
        },
        synthetic=bool(result.extra.get("synthetic")),
    )
