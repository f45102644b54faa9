"""Every built-in provider adapter, by slug.

``REGISTRY`` maps slug → adapter class; :func:`get_adapter_class` is the lookup with a clear
error. The adapter modules are imported on first use (PEP 562 module ``__getattr__``), so
importing :mod:`providers.adapters.base` — which ``providers.transforms`` and the adapters
themselves do — never drags every adapter in, and no import cycle can form.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.adapters.base import Adapter

# slug → "module:Class", in the order the admin lists them.
_ADAPTERS: dict[str, str] = {
    "hunter": "providers.adapters.hunter:HunterAdapter",
    "apollo": "providers.adapters.apollo:ApolloAdapter",
    "findymail": "providers.adapters.findymail:FindymailAdapter",
    "leadmagic": "providers.adapters.leadmagic:LeadMagicAdapter",
    "prospeo": "providers.adapters.prospeo:ProspeoAdapter",
    "pdl": "providers.adapters.pdl:PeopleDataLabsAdapter",
    "zerobounce": "providers.adapters.zerobounce:ZeroBounceAdapter",
    "builtwith": "providers.adapters.builtwith:BuiltWithAdapter",
    "serpapi": "providers.adapters.serpapi:SerpApiAdapter",
    "sandbox": "providers.adapters.sandbox:SandboxAdapter",
    "generic": "providers.adapters.generic:GenericAdapter",
}
_registry: dict[str, type[Adapter]] | None = None


def _load() -> dict[str, type[Adapter]]:
    global _registry
    if _registry is None:
        loaded: dict[str, type[Adapter]] = {}
        for slug, target in _ADAPTERS.items():
            module_name, class_name = target.split(":")
            cls = getattr(import_module(module_name), class_name)
            if cls.slug != slug:  # a renamed slug would silently orphan stored providers
                raise RuntimeError(f"{target} declares slug {cls.slug!r}, registered as {slug!r}")
            loaded[slug] = cls
        _registry = loaded
    return _registry


def get_adapter_class(slug: str) -> type[Adapter]:
    """The adapter class for ``slug``; ``ValueError`` naming the known slugs otherwise."""
    try:
        return _load()[slug]
    except KeyError:
        known = ", ".join(sorted(_ADAPTERS))
        raise ValueError(f"unknown provider {slug!r} (known: {known})") from None


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return _load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["REGISTRY", "get_adapter_class"]
