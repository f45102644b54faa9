"""Value transforms and config validation for the no-code ("generic") HTTP provider.

An admin maps a provider's JSON onto canonical fields with JSONPath and may name a transform
per field (``{"company_size": "employee_band", "*": "strip"}``; a list chains them). The
transforms are deliberately few and pure: anything cleverer belongs in a real adapter.

:func:`validate_generic_config` returns every problem as a readable string so the admin form can
show them all at once instead of failing on the first call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse

from enrichment.emails.domains import normalise_domain
from providers.adapters.base import (
    CANONICAL_FIELDS,
    RESULT_FIELDS,
    SEARCH_PARAMETERS,
    Operation,
)

# Upper bounds of the size bands every export and filter uses (LinkedIn's bands).
EMPLOYEE_BANDS: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
    (10000, "5001-10000"),
)
LARGEST_BAND = "10001+"
BAND_NAMES = frozenset(name for _, name in EMPLOYEE_BANDS) | {LARGEST_BAND}

_RANGE_RE = re.compile(r"^\s*(\d[\d,.\s]*)\s*(?:-|–|to)\s*(\d[\d,.\s]*)\s*$", re.IGNORECASE)
_PLUS_RE = re.compile(r"^\s*(\d[\d,.\s]*)\s*\+\s*$")
_NUMBER_RE = re.compile(r"^\s*(\d[\d,.\s]*)\s*(k)?\s*$", re.IGNORECASE)

_MOBILE_WORDS = ("mobile", "cell", "cellular")
_OFFICE_WORDS = ("office", "work", "direct", "landline", "hq", "business", "corporate")
_NUMBER_KEYS = ("sanitized_number", "number", "phone", "phone_number", "value", "raw_number")
_TYPE_KEYS = ("type", "type_cd", "kind", "label", "line_type")


_NOT_DIGITS = re.compile(r"\D")
_PHONE_DIGITS = re.compile(r"\d{8,15}")


def _to_int(text: str) -> int | None:
    digits = re.sub(r"[\s,]", "", text)
    try:
        return int(Decimal(digits))
    except (InvalidOperation, ValueError):
        return None


def band_for_count(count: int) -> str | None:
    if count < 0:
        return None
    for upper, name in EMPLOYEE_BANDS:
        if count <= upper:
            return name
    return LARGEST_BAND


def employee_band(value: Any) -> str | None:
    """An employee count (or a provider's own range) as one of our size bands.

    ``250`` → ``"201-500"``; ``"1,200"`` → ``"1001-5000"``; ``"2k"`` → ``"1001-5000"``;
    ``"10001+"`` → ``"10001+"``; a range in other bands ("201-1000") goes by its midpoint.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return band_for_count(int(value))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text in BAND_NAMES:
        return text
    if match := _RANGE_RE.match(text):
        low, high = _to_int(match[1]), _to_int(match[2])
        if low is None or high is None:
            return None
        return band_for_count((low + high) // 2)
    if match := _PLUS_RE.match(text):
        low = _to_int(match[1])
        return None if low is None else band_for_count(low)
    if match := _NUMBER_RE.match(text):
        number = _to_int(match[1])
        if number is None:
            return None
        return band_for_count(number * 1000 if match[2] else number)
    return None


def _phone_parts(item: Any) -> tuple[str | None, str]:
    """(number, lower-cased type) of one phone entry, a string or an object."""
    if isinstance(item, str):
        return (item.strip() or None), ""
    if isinstance(item, Mapping):
        number = next(
            (str(item[k]).strip() for k in _NUMBER_KEYS if isinstance(item.get(k), str | int)),
            None,
        )
        kind = next((str(item[k]).lower() for k in _TYPE_KEYS if item.get(k)), "")
        return (number or None), kind
    return None, ""


def phone_e164(text: str) -> tuple[str | None, int]:
    """(E.164 number, confidence penalty) for a provider's phone number.

    Providers give numbers with their country code (``+1 415...``, or bare digits such as
    LeadMagic's ``12077523358``), so no region is guessed: a number that parses only with a
    ``+`` in front gets one; one that does not parse is kept as written and trusted less (30),
    rather than given a wrong country; a possible but invalid number is trusted less too (20).
    ``(None, 0)`` when it is too short to be a phone number.
    """
    candidates = [text]
    if _PHONE_DIGITS.fullmatch(text.strip()):
        candidates.append("+" + text.strip())
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, None)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            return e164, 0 if phonenumbers.is_valid_number(parsed) else 20
    digits = _NOT_DIGITS.sub("", text)
    return (text, 30) if len(digits) >= 7 else (None, 0)


def pick_phone(value: Any) -> str | None:
    """The mobile number from a list of phones, else the office one, else the first."""
    items = value if isinstance(value, list | tuple) else [value]
    parsed = [p for p in (_phone_parts(item) for item in items) if p[0]]
    for words in (_MOBILE_WORDS, _OFFICE_WORDS):
        for number, kind in parsed:
            if any(word in kind for word in words):
                return number
    return parsed[0][0] if parsed else None


def _strip(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.split()) or None
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _lower(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [_lower(v) for v in value]
    return value


def _upper(value: Any) -> Any:
    if isinstance(value, str):
        return value.upper()
    if isinstance(value, list):
        return [_upper(v) for v in value]
    return value


def _domain(value: Any) -> Any:
    return normalise_domain(value) if isinstance(value, str) else value


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _join(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value if v not in (None, "")) or None
    return value


def _integer(value: Any) -> Any:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        return _to_int(value)
    return None


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "strip": _strip,
    "lower": _lower,
    "upper": _upper,
    "domain": _domain,
    "first": _first,
    "join": _join,
    "int": _integer,
    "employee_band": employee_band,
    "pick_phone": pick_phone,
}


def _names(spec: Any) -> list[str]:
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, list | tuple):
        return [s for s in spec if isinstance(s, str)]
    return []


def apply_transform(name_or_names: str | list[str], value: Any) -> Any:
    for name in _names(name_or_names):
        if value is None:
            return None
        value = TRANSFORMS[name](value)
    return value


def apply_transforms(values: Mapping[str, Any], transforms: Mapping[str, Any]) -> dict[str, Any]:
    """``"*"`` first on every field, then the field's own transform(s)."""
    out: dict[str, Any] = {}
    for field_name, value in values.items():
        if "*" in transforms:
            value = apply_transform(transforms["*"], value)
        if field_name in transforms:
            value = apply_transform(transforms[field_name], value)
        out[field_name] = value
    return out


# --- config validation ------------------------------------------------------------------------

AUTH_TYPES = frozenset(
    {"none", "api_key_header", "api_key_query", "bearer", "basic", "oauth2_client_credentials"}
)
CREDENTIAL_PLACEHOLDERS = frozenset(
    {"api_key", "token", "username", "password", "client_id", "client_secret"}
)
INPUT_PLACEHOLDERS = frozenset(CANONICAL_FIELDS) | frozenset(SEARCH_PARAMETERS)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH"})
PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BAD_BRACE_RE = re.compile(r"\{(?![A-Za-z_][A-Za-z0-9_]*\})(?!\{)")


def placeholders(template: Any) -> set[str]:
    """Names used as ``{name}`` anywhere in a template (strings, dicts, lists)."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(m[1] for m in PLACEHOLDER_RE.finditer(template) if m[1])
    elif isinstance(template, Mapping):
        for value in template.values():
            found |= placeholders(value)
    elif isinstance(template, list | tuple):
        for value in template:
            found |= placeholders(value)
    return found


def _check_jsonpath(errors: list[str], where: str, path: Any) -> None:
    if not isinstance(path, str) or not path.strip():
        errors.append(f"{where}: must be a JSONPath string like '$.data.email'")
        return
    try:
        jsonpath_parse(path)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:  # noqa: BLE001
        # jsonpath-ng raises plain Exceptions for some syntax errors.
        errors.append(f"{where}: invalid JSONPath {path!r} ({exc})")


def _check_templates(errors: list[str], where: str, template: Any, allowed: set[str]) -> None:
    if template is None:
        return
    if not isinstance(template, Mapping):
        errors.append(f"{where}: must be an object")
        return
    for name in sorted(placeholders(template) - allowed):
        errors.append(f"{where}: unknown placeholder {{{name}}}")
    for text in _strings(template):
        if _BAD_BRACE_RE.search(PLACEHOLDER_RE.sub("", text)):
            errors.append(f"{where}: {text!r} has a '{{' that is not a {{field}} placeholder")


def _strings(template: Any) -> list[str]:
    if isinstance(template, str):
        return [template]
    if isinstance(template, Mapping):
        return [s for v in template.values() for s in _strings(v)]
    if isinstance(template, list | tuple):
        return [s for v in template for s in _strings(v)]
    return []


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def validate_generic_config(config: Any) -> list[str]:
    """Every problem with a generic provider ``config``; an empty list means it is usable."""
    errors: list[str] = []
    if not isinstance(config, Mapping):
        return ["config: must be a JSON object"]

    auth = config.get("auth", {"type": "none"})
    allowed_placeholders = set(INPUT_PLACEHOLDERS)
    if not isinstance(auth, Mapping):
        errors.append("auth: must be an object")
    else:
        auth_type = auth.get("type", "none")
        if auth_type not in AUTH_TYPES:
            errors.append(f"auth.type: {auth_type!r} is not one of {', '.join(sorted(AUTH_TYPES))}")
        for key in ("header", "param", "scope", "prefix"):
            if key in auth and not isinstance(auth[key], str):
                errors.append(f"auth.{key}: must be a string")
        if auth_type == "oauth2_client_credentials":
            token_url = auth.get("token_url")
            if not isinstance(token_url, str) or not (
                _is_http_url(token_url) or token_url.startswith("/")
            ):
                errors.append("auth.token_url: needs an http(s) URL or a path under the base URL")
            if auth.get("client_auth", "basic") not in ("basic", "body"):
                errors.append("auth.client_auth: must be 'basic' or 'body'")
        if auth_type != "none":
            allowed_placeholders |= CREDENTIAL_PLACEHOLDERS

    operations = config.get("operations")
    if not isinstance(operations, Mapping) or not operations:
        errors.append("operations: configure at least one operation")
        return errors
    for op_name, op in operations.items():
        where = f"operations.{op_name}"
        if op_name not in {o.value for o in Operation}:
            errors.append(
                f"{where}: unknown operation (use one of {', '.join(o.value for o in Operation)})"
            )
            continue
        if not isinstance(op, Mapping):
            errors.append(f"{where}: must be an object")
            continue
        method = op.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in METHODS:
            errors.append(f"{where}.method: must be one of {', '.join(sorted(METHODS))}")
        path = op.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            errors.append(f"{where}.path: must be a path starting with '/'")
        elif placeholders(path) - INPUT_PLACEHOLDERS:
            names = ", ".join(sorted(placeholders(path) - INPUT_PLACEHOLDERS))
            errors.append(f"{where}.path: unknown placeholder(s) {names}")
        for part in ("query", "headers", "body"):
            _check_templates(errors, f"{where}.{part}", op.get(part), allowed_placeholders)
        if op.get("body_format", "json") not in ("json", "form"):
            errors.append(f"{where}.body_format: must be 'json' or 'form'")
        for key in ("required", "optional"):
            names = op.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                errors.append(f"{where}.{key}: must be a list of field names")
            else:
                for name in names:
                    if name not in INPUT_PLACEHOLDERS:
                        errors.append(f"{where}.{key}: {name!r} is not a canonical field")

        mapping = op.get("mapping")
        if not isinstance(mapping, Mapping) or not mapping:
            errors.append(f"{where}.mapping: map at least one field to a JSONPath")
            mapping = {}
        for field_name, path_expr in mapping.items():
            if field_name not in RESULT_FIELDS:
                errors.append(f"{where}.mapping: {field_name!r} is not a canonical field")
            _check_jsonpath(errors, f"{where}.mapping.{field_name}", path_expr)
        for key in ("confidence_path", "found_path"):
            if op.get(key) is not None:
                _check_jsonpath(errors, f"{where}.{key}", op[key])
        scale = op.get("confidence_scale", 100)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale <= 0:
            errors.append(f"{where}.confidence_scale: must be a positive number (1, 10, 100 ...)")
        default_confidence = op.get("default_confidence", 50)
        if (
            isinstance(default_confidence, bool)
            or not isinstance(default_confidence, int)
            or not (0 <= default_confidence <= 100)
        ):
            errors.append(f"{where}.default_confidence: must be an integer 0-100")

        transforms = op.get("transforms", {})
        if not isinstance(transforms, Mapping):
            errors.append(f"{where}.transforms: must be an object")
            transforms = {}
        for field_name, spec in transforms.items():
            if field_name != "*" and field_name not in mapping:
                errors.append(f"{where}.transforms: {field_name!r} is not a mapped field")
            names = _names(spec)
            if not names or len(names) != (1 if isinstance(spec, str) else len(spec)):
                errors.append(f"{where}.transforms.{field_name}: must be a name or a list of names")
            for name in names:
                if name not in TRANSFORMS:
                    errors.append(
                        f"{where}.transforms.{field_name}: unknown transform {name!r} "
                        f"(use {', '.join(sorted(TRANSFORMS))})"
                    )

        cost = op.get("cost", "0")
        try:
            if isinstance(cost, bool) or Decimal(str(cost)) < 0:
                raise InvalidOperation
        except (InvalidOperation, ValueError):
            errors.append(f"{where}.cost: must be a non-negative decimal like '0.01'")
    return errors
