"""State changes for provider configurations: export, import (validated), connection test,
and the rule that stored credentials stay with the host they were entered for."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from providers.adapters import get_adapter_class
from providers.adapters.base import Operation, ProviderResult
from providers.errors import ProviderError
from providers.models import Provider

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
_DECIMAL_FIELDS = ("timeout_seconds", "price_per_call")
#: An export is a few kilobytes; a file far larger than this is not one.
MAX_IMPORT_BYTES = 5 * 1024 * 1024


class ProviderImportError(ValueError):
    """The import file is not valid; nothing was changed. One line per problem."""


@dataclass
class ImportOutcome:
    created: int
    updated: int
    #: One line per provider whose credentials were removed because they would now go to
    #: another host.
    notes: list[str]


def provider_export_all() -> dict[str, Any]:
    """Every provider's configuration; credential *names* only, never values."""
    return {
        "version": EXPORT_VERSION,
        "providers": [p.config_for_export() for p in Provider.objects.order_by("slug")],
    }


# --- where credentials go -----------------------------------------------------------------


def _host_of(url: Any) -> tuple[str, int | None] | None:
    if not isinstance(url, str) or not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return ((parts.hostname or "").lower(), port)


def credential_hosts(*, adapter: str, base_url: str, config: Any) -> frozenset:
    """The (host, port) pairs a provider's credentials are sent to: its base URL (or its
    adapter's default) and, for the generic provider, the OAuth token URL."""
    url = base_url
    if not url:
        try:
            url = get_adapter_class(adapter).default_base_url
        except (KeyError, ValueError):
            url = ""
    hosts = {_host_of(url)}
    auth = config.get("auth") if isinstance(config, dict) else None
    if isinstance(auth, dict):
        hosts.add(_host_of(auth.get("token_url")))
    return frozenset(h for h in hosts if h is not None)


def credentials_leave_host(*, before: Provider, after: Provider) -> bool:
    """Whether ``after`` would send ``before``'s stored credentials to a host they never went to."""
    if not before.has_credentials:
        return False
    old = credential_hosts(adapter=before.adapter, base_url=before.base_url, config=before.config)
    new = credential_hosts(adapter=after.adapter, base_url=after.base_url, config=after.config)
    return not new <= old


def credentials_cleared_note(provider: Provider) -> str:
    return (
        f"provider {provider.slug!r}: stored credentials removed, since they would now go to "
        f"another host ({provider.base_url or provider.adapter}); enter them again in the admin"
    )


# --- import -------------------------------------------------------------------------------


def provider_import_parse(raw: bytes) -> Any:
    """The JSON document in ``raw``, or ``ProviderImportError`` saying in one line why not."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ProviderImportError(f"the file is over {MAX_IMPORT_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ProviderImportError(f"the file is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProviderImportError(f"not valid JSON: line {exc.lineno}: {exc.msg}") from None
    except RecursionError:
        raise ProviderImportError("not valid JSON: nested too deeply") from None


def _has_nul(value: Any) -> bool:
    # PostgreSQL text and jsonb cannot hold U+0000.
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _validate_entry(index: int, entry: Any) -> tuple[dict[str, Any] | None, list[str], set[str]]:
    """(values, problems, fields with a problem) for one entry; values is None when it cannot
    be read at all. Values hold only the fields that passed these checks."""
    where = f"providers[{index}]"
    if not isinstance(entry, dict):
        return None, [f"{where}: expected an object"], set()
    slug = entry.get("slug")
    if not isinstance(slug, str) or not slug:
        return None, [f"{where}: 'slug' is required"], set()
    where = f"provider {slug[:64]!r}"
    if _has_nul(entry):
        return None, [f"{where}: a value contains a NUL character"], set()
    problems: list[str] = []
    bad: set[str] = set()
    if any(k in entry for k in ("credentials", "credentials_encrypted", "api_key")):
        problems.append(f"{where}: credentials cannot be imported; set them in the admin")
    values: dict[str, Any] = {"slug": slug}
    for name, kind in _IMPORT_FIELDS.items():
        if name in entry:
            if not isinstance(entry[name], kind) or (kind is int and isinstance(entry[name], bool)):
                problems.append(f"{where}: {name!r} has the wrong type")
                bad.add(name)
            else:
                values[name] = entry[name]
    for name in _DECIMAL_FIELDS:
        if name in entry:
            value = entry[name]
            try:
                number = Decimal(str(value)) if isinstance(value, str | int | float) else None
            except InvalidOperation:
                number = None
            if number is None or isinstance(value, bool) or not number.is_finite():
                problems.append(f"{where}: {name!r} is not a number")
                bad.add(name)
            else:
                values[name] = number
    adapter = values.get("adapter")
    if not adapter:
        if "adapter" not in bad:
            problems.append(f"{where}: 'adapter' is required")
        bad.add("adapter")
    else:
        try:
            get_adapter_class(adapter)
        except (KeyError, ValueError):
            problems.append(f"{where}: unknown adapter {adapter[:64]!r}")
            bad.add("adapter")
        if adapter == "generic":
            from providers.transforms import validate_generic_config

            config_problems = validate_generic_config(values.get("config", {}))
            problems += [f"{where}: {e}" for e in config_problems]
            if config_problems:
                bad.add("config")
    values.setdefault("name", slug)
    return values, problems, bad


def _model_problems(where: str, provider: Provider, exclude: set[str]) -> list[str]:
    try:
        provider.full_clean(exclude=exclude)
    except ValidationError as exc:
        return [
            f"{where}: {field}: {message}" if field != NON_FIELD_ERRORS else f"{where}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return []


@transaction.atomic
def provider_import(data: Any) -> ImportOutcome:
    """Create or update providers from an export. All or nothing: every entry is checked with
    the model's own validation first, and every problem found is reported, one line each.

    A provider whose new configuration would send its stored credentials to another host
    loses them (they are entered again in the admin), with a note saying so.
    """
    if not isinstance(data, dict) or not isinstance(data.get("providers"), list):
        raise ProviderImportError("expected an object with a 'providers' list")
    if data.get("version", EXPORT_VERSION) != EXPORT_VERSION:
        raise ProviderImportError(f"unsupported export version {str(data.get('version'))[:20]!r}")
    problems: list[str] = []
    staged: list[tuple[Provider, bool, bool]] = []
    seen: set[str] = set()
    for index, entry in enumerate(data["providers"]):
        values, entry_problems, bad = _validate_entry(index, entry)
        problems += entry_problems
        if values is None:
            continue
        slug = values["slug"]
        where = f"provider {slug[:64]!r}"
        if slug in seen:
            problems.append(f"{where}: listed twice")
            continue
        seen.add(slug)
        existing = Provider.objects.filter(slug=slug).first()
        provider = Provider(**values) if existing is None else Provider.objects.get(pk=existing.pk)
        for name, value in values.items():
            setattr(provider, name, value)
        # The model's own validation, on every field not already found wrong above.
        model_problems = _model_problems(where, provider, exclude=bad)
        problems += model_problems
        if entry_problems or model_problems:
            continue
        moved = existing is not None and credentials_leave_host(before=existing, after=provider)
        staged.append((provider, existing is None, moved))
    if problems:
        raise ProviderImportError("\n".join(problems))
    created = updated = 0
    notes: list[str] = []
    for provider, is_new, moved in staged:
        if moved:
            provider.set_credentials({})
            notes.append(credentials_cleared_note(provider))
        provider.save()
        created += is_new
        updated += not is_new
    return ImportOutcome(created=created, updated=updated, notes=notes)


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
