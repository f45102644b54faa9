"""The no-code provider: any JSON HTTP API, described entirely by its ``config``.

Standards this adapter implements: OAuth 2.0 client credentials grant, RFC 6749 §4.4
(https://datatracker.ietf.org/doc/html/rfc6749#section-4.4) with client authentication per
§2.3.1; JSONPath as implemented by jsonpath-ng (https://github.com/h2non/jsonpath-ng).

Config shape (checked by :func:`providers.transforms.validate_generic_config`)::

    {
      "operations": {
        "find_email": {
          "method": "GET", "path": "/v1/find",
          "query":   {"first": "{first_name}", "last": "{last_name}", "domain": "{domain}"},
          "headers": {"Accept": "application/json"},
          "body":    {...},                     # JSON (or "body_format": "form")
          "required": ["first_name", "last_name", "domain"],   # default: every placeholder
          "optional": ["company_name"],         # placeholders that may be missing
          "mapping": {"email": "$.data.email", "phone": "$.data.phones"},
          "confidence_path": "$.data.score", "confidence_scale": 100,
          "default_confidence": 50,
          "found_path": "$.data.found",         # optional; else "any mapped value"
          "transforms": {"phone": "pick_phone", "email": "lower", "*": "strip"},
          "cost": "0.01", "miss_cost": "0"
        }
      },
      "auth": {"type": "none" | "api_key_header" | "api_key_query" | "bearer" | "basic"
                       | "oauth2_client_credentials",
               "header": "X-API-Key", "prefix": "", "param": "api_key",
               "token_url": "https://auth.example.com/oauth/token", "scope": "read",
               "client_auth": "basic" | "body"}
    }

Credentials: ``api_key``, ``token``, ``username``, ``password``, ``client_id``,
``client_secret``. Templates may also use credential placeholders (``{api_key}``) for APIs that
want the key somewhere unusual; they are masked out of errors and stored answers like any
credential.

OAuth2 access tokens are cached in the Django cache (encrypted with the credentials key, so
Redis never holds a usable token) under a hash of base URL, token URL, client id and scope —
never the secret — until ``expires_in`` minus a 60-second margin. A 401 answered to a cached
token refreshes it once and retries once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import time
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

from django.core.cache import cache
from jsonpath_ng.ext import parse as jsonpath_parse

from providers.adapters.base import (
    Adapter,
    EmailStatus,
    HttpResponse,
    Operation,
    OperationSpec,
    ProviderResult,
    RequestSpec,
    Transport,
    build_fields,
)
from providers.adapters.values import (
    clamp_confidence,
    ensure_mapping,
    first_str,
    to_decimal,
)
from providers.errors import AuthenticationError, ClientError, ProviderError, ProviderFailure
from providers.transforms import (
    CREDENTIAL_PLACEHOLDERS,
    PLACEHOLDER_RE,
    apply_transforms,
    placeholders,
    validate_generic_config,
)

logger = logging.getLogger(__name__)

TOKEN_MARGIN_SECONDS = 60
# RFC 6749 §5.1 makes expires_in optional; without it, refresh often rather than trust forever.
DEFAULT_TOKEN_LIFETIME = 300
LIST_FIELDS = frozenset({"emails", "people", "technologies"})
_FULL_PLACEHOLDER_RE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_OAUTH_AUTH_ERRORS = {
    "invalid_client": "invalid_key",
    "invalid_grant": "invalid_key",
    "unauthorized_client": "insufficient_permissions",
    "invalid_scope": "insufficient_permissions",
}


def _now() -> float:
    """Wall clock for token expiry; a function so tests can move time."""
    return time.time()


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill ``{name}`` placeholders; ``{{``/``}}`` are literal braces.

    A string that is exactly one placeholder keeps the value's type (numbers, lists). Missing
    values render empty, and object keys whose value renders empty are left out, so optional
    fields simply disappear from the request. Only plain names are substituted: no attribute or
    index access, unlike ``str.format``.
    """
    if isinstance(template, str):
        whole = _FULL_PLACEHOLDER_RE.match(template)
        if whole:
            return values.get(whole[1])

        def substitute(match: re.Match[str]) -> str:
            if match[0] == "{{":
                return "{"
            if match[0] == "}}":
                return "}"
            value = values.get(match[1])
            return "" if value is None else str(value)

        return PLACEHOLDER_RE.sub(substitute, template)
    if isinstance(template, dict):
        rendered = {k: render(v, values) for k, v in template.items()}
        return {k: v for k, v in rendered.items() if v not in (None, "", [], {})}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def _status_word(value: Any) -> str:
    word = str(value).strip().lower().replace("-", "_")
    known = {s.value for s in EmailStatus}
    if word in known:
        return word
    if word in ("deliverable", "verified", "ok"):
        return EmailStatus.VALID.value
    if word in ("undeliverable", "bounce", "bounced"):
        return EmailStatus.INVALID.value
    if word in ("accept_all", "acceptall", "catchall"):
        return EmailStatus.CATCH_ALL.value
    return EmailStatus.UNKNOWN.value


class GenericAdapter(Adapter):
    slug = "generic"
    label = "Custom HTTP API"
    docs_url = "https://datatracker.ietf.org/doc/html/rfc6749#section-4.4"
    default_base_url = ""
    # Operations depend on each provider's config: see the instance attribute set in __init__.
    operations: ClassVar[dict[Operation, OperationSpec]] = {}
    credential_fields: ClassVar[tuple[str, ...]] = (
        "api_key",
        "token",
        "username",
        "password",
        "client_id",
        "client_secret",
    )

    def __init__(
        self,
        *,
        base_url: str | None = None,
        credentials: Any,
        config: Any = None,
        provider_id: int | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url, credentials=credentials, config=config, provider_id=provider_id
        )
        self.config_errors = validate_generic_config(self.config)
        self.auth: dict[str, Any] = dict(self.config.get("auth") or {"type": "none"})
        self._paths: dict[str, Any] = {}
        # Shadows the (empty) class attribute: a generic provider's operations are its config's.
        self.operations = {} if self.config_errors else self._build_operations()

    def _build_operations(self) -> dict[Operation, OperationSpec]:
        specs: dict[Operation, OperationSpec] = {}
        for name, op in self.config["operations"].items():
            templates = [op.get("path"), op.get("query"), op.get("headers"), op.get("body")]
            used = set().union(*(placeholders(t) for t in templates)) - CREDENTIAL_PLACEHOLDERS
            optional = tuple(op.get("optional", ()))
            required = (
                tuple(op["required"]) if "required" in op else tuple(sorted(used - set(optional)))
            )
            specs[Operation(name)] = OperationSpec(
                required=required,
                optional=tuple(sorted((used | set(optional)) - set(required))),
                outputs=tuple(op["mapping"]),
                cost=to_decimal(op.get("cost", "0"), default=Decimal(0)),
            )
            for target, expr in op["mapping"].items():
                self._paths[f"{name}:{target}"] = jsonpath_parse(expr)
            for key in ("confidence_path", "found_path"):
                if op.get(key):
                    self._paths[f"{name}:{key}"] = jsonpath_parse(op[key])
        return specs

    def spec_for(self, op: Operation) -> OperationSpec:
        if self.config_errors:
            shown = "; ".join(self.config_errors[:3])
            more = (
                f" (and {len(self.config_errors) - 3} more)" if len(self.config_errors) > 3 else ""
            )
            raise ClientError(
                "invalid_request", f"the provider's configuration is invalid: {shown}{more}"
            )
        return super().spec_for(op)

    # --- auth -----------------------------------------------------------------------------------

    @property
    def auth_type(self) -> str:
        return str(self.auth.get("type", "none"))

    def required_credentials(self) -> tuple[str, ...]:
        """The credential fields this configuration's auth type needs."""
        return {
            "none": (),
            "api_key_header": ("api_key",),
            "api_key_query": ("api_key",),
            "bearer": ("token",),
            "basic": ("username", "password"),
            "oauth2_client_credentials": ("client_id", "client_secret"),
        }.get(self.auth_type, ())

    def _apply_auth(self, spec: RequestSpec, token: str | None) -> None:
        kind = self.auth_type
        if kind == "api_key_header":
            header = self.auth.get("header") or "X-API-Key"
            spec.headers[header] = (
                f"{self.auth.get('prefix', '')}{self.require_credential('api_key')}"
            )
        elif kind == "api_key_query":
            spec.params[self.auth.get("param") or "api_key"] = self.require_credential("api_key")
        elif kind == "bearer":
            bearer = self.credentials.get("token") or self.require_credential("api_key")
            spec.headers["Authorization"] = f"Bearer {bearer}"
        elif kind == "basic":
            pair = f"{self.require_credential('username')}:{self.credentials.get('password', '')}"
            spec.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif kind == "oauth2_client_credentials" and token:
            spec.headers["Authorization"] = f"Bearer {token}"

    def _token_url(self) -> str:
        url = str(self.auth.get("token_url") or "")
        return url if urlsplit(url).scheme else self.url(url)

    def token_cache_key(self) -> str:
        # Hash of where the token comes from and for whom: never the secret itself.
        identity = "\n".join(
            (
                self.base_url,
                self._token_url(),
                self.credentials.get("client_id", ""),
                str(self.auth.get("scope") or ""),
            )
        )
        return "providers:oauth2:" + hashlib.sha256(identity.encode()).hexdigest()

    def _cached_token(self) -> str | None:
        from config.crypto import DecryptionError, decrypt_json

        try:
            stored = cache.get(self.token_cache_key())
        except Exception as exc:  # noqa: BLE001 - a cache outage costs a token request, not the call
            logger.warning("oauth2 token cache unavailable: %s", type(exc).__name__)
            return None
        if not isinstance(stored, str):
            return None
        try:
            entry = decrypt_json(stored)
        except DecryptionError:
            return None
        token = entry.get("access_token")
        if not isinstance(token, str) or float(entry.get("expires_at", 0)) <= _now():
            return None
        self._remember_token(token)
        return token

    def forget_token(self) -> None:
        try:
            cache.delete(self.token_cache_key())
        except Exception as exc:  # noqa: BLE001 - then nothing cached can be reused either
            logger.warning("oauth2 token cache unavailable: %s", type(exc).__name__)

    def _remember_token(self, token: str) -> None:
        self.add_secret(token)
        try:
            from config.logging import register_secret

            register_secret(token)
        except ImportError:  # logging set-up is optional for the adapter itself
            pass

    def _fetch_token(self, transport: Transport) -> str:
        from config.crypto import encrypt_json

        client_id = self.require_credential("client_id")
        client_secret = self.require_credential("client_secret")
        form = {"grant_type": "client_credentials"}
        if self.auth.get("scope"):
            form["scope"] = str(self.auth["scope"])
        headers = {"Accept": "application/json"}
        if self.auth.get("client_auth", "basic") == "basic":
            # RFC 6749 §2.3.1: form-urlencode id and secret before the Basic encoding.
            pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form |= {"client_id": client_id, "client_secret": client_secret}
        response = transport.send(
            RequestSpec(method="POST", url=self._token_url(), headers=headers, data=form)
        )
        if response.status != 200:
            raise self._token_error(response)
        body = ensure_mapping(response.json(), http_status=response.status)
        token = first_str(body.get("access_token"))
        if not token:
            raise ProviderFailure(
                "malformed_response", "the token endpoint returned no access_token"
            )
        token_type = str(body.get("token_type") or "bearer").lower()
        if token_type != "bearer":  # noqa: S105 - a token type name, not a secret
            raise ProviderFailure("malformed_response", f"unsupported token type {token_type!r}")
        self._remember_token(token)
        lifetime = body.get("expires_in")
        lifetime = (
            int(lifetime)
            if isinstance(lifetime, int | float | str) and str(lifetime).isdigit()
            else DEFAULT_TOKEN_LIFETIME
        )
        ttl = lifetime - TOKEN_MARGIN_SECONDS
        if ttl > 0:
            entry = encrypt_json({"access_token": token, "expires_at": _now() + ttl})
            try:
                cache.set(self.token_cache_key(), entry, timeout=ttl)
            except Exception as exc:  # noqa: BLE001 - uncached, the next call fetches a new token
                logger.warning("oauth2 token cache unavailable: %s", type(exc).__name__)
        return token

    def _token_error(self, response: HttpResponse) -> ProviderError:
        try:
            code = str(response.json().get("error") or "")
        except (ProviderFailure, AttributeError):
            code = ""
        if code in _OAUTH_AUTH_ERRORS:
            return AuthenticationError(
                _OAUTH_AUTH_ERRORS[code],
                f"the token endpoint refused the client credentials ({code})",
                http_status=response.status,
            )
        error = self.error_for_status(response)
        if error is None:  # a 2xx other than 200: not what RFC 6749 §5.1 promises
            return ProviderFailure(
                "malformed_response", "unexpected answer from the token endpoint"
            )
        if error.code == "not_found":
            return ClientError("invalid_request", "the token URL does not exist", http_status=404)
        if response.status in (400, 401):
            return AuthenticationError(
                "invalid_key",
                "the token endpoint refused the client credentials",
                http_status=response.status,
            )
        return error

    # --- the call -------------------------------------------------------------------------------

    def _build_request(self, op_config: dict[str, Any], values: dict[str, Any]) -> RequestSpec:
        path = render(op_config["path"], values)
        params = render(op_config.get("query") or {}, values)
        headers = {k: str(v) for k, v in render(op_config.get("headers") or {}, values).items()}
        body = render(op_config["body"], values) if "body" in op_config else None
        form = op_config.get("body_format", "json") == "form"
        return RequestSpec(
            method=str(op_config.get("method", "GET")).upper(),
            url=self.url(path),
            params=params,
            headers=headers,
            json=None if form else body,
            data=body if form else None,
        )

    def perform(
        self, op: Operation, inputs: dict[str, Any], transport: Transport
    ) -> ProviderResult:
        if not self.base_url:
            raise ClientError("invalid_request", "the provider has no base URL")
        op_config = self.config["operations"][op.value]
        values = {
            **inputs,
            **{k: v for k, v in self.credentials.items() if k in CREDENTIAL_PLACEHOLDERS},
        }

        token, fresh = None, False
        if self.auth_type == "oauth2_client_credentials":
            token = self._cached_token()
            if token is None:
                token, fresh = self._fetch_token(transport), True
        spec = self._build_request(op_config, values)
        self._apply_auth(spec, token)
        response = transport.send(spec)
        if response.status == 401 and token is not None and not fresh:
            # The cached token was revoked or expired early: one fresh token, one retry.
            self.forget_token()
            token = self._fetch_token(transport)
            spec = self._build_request(op_config, values)
            self._apply_auth(spec, token)
            response = transport.send(spec)
        if response.status == 401 and self.auth_type == "oauth2_client_credentials":
            raise AuthenticationError(
                "expired_token", "the API refused a freshly issued access token", http_status=401
            )
        self.raise_for_status(response)
        miss_cost = to_decimal(op_config.get("miss_cost", "0"), default=Decimal(0))
        if response.status == 204:
            return self.no_match(None, cost=miss_cost, http_status=204)
        body = response.json()
        return self._parse(op, op_config, body, response, miss_cost)

    def _find(self, key: str, body: Any) -> list[Any]:
        return [match.value for match in self._paths[key].find(body)]

    def _parse(
        self,
        op: Operation,
        op_config: dict[str, Any],
        body: Any,
        response: HttpResponse,
        miss_cost: Decimal,
    ) -> ProviderResult:
        if op_config.get("found_path"):
            flags = self._find(f"{op.value}:found_path", body)
            if not flags or not flags[0]:
                return self.no_match(body, cost=miss_cost, http_status=response.status)

        values: dict[str, Any] = {}
        for target in op_config["mapping"]:
            matches = self._find(f"{op.value}:{target}", body)
            if target in LIST_FIELDS:
                flat: list[Any] = []
                for match in matches:
                    flat.extend(match if isinstance(match, list) else [match])
                values[target] = flat
            else:
                values[target] = matches[0] if len(matches) == 1 else (matches or None)
        values = apply_transforms(values, op_config.get("transforms") or {})
        if values.get("email_status") is not None:
            values["email_status"] = _status_word(values["email_status"])

        confidence = int(op_config.get("default_confidence", 50))
        if op_config.get("confidence_path"):
            scores = self._find(f"{op.value}:confidence_path", body)
            if scores:
                confidence = clamp_confidence(
                    scores[0],
                    scale=float(op_config.get("confidence_scale", 100)),
                    default=confidence,
                )
        fields = build_fields({name: (value, confidence) for name, value in values.items()})
        if not fields:
            return self.no_match(body, cost=miss_cost, http_status=response.status)
        return ProviderResult(
            found=True,
            fields=fields,
            raw=body,
            cost=self.cost_for(op),
            http_status=response.status,
            extra={"confidence": confidence},
        )
