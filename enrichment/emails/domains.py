"""Offline checks on addresses and domains: cleaning, syntax, free mail, disposable, roles.

Nothing here touches the network: the public suffix list is tldextract's bundled snapshot, the
disposable list comes from the ``disposable-email-domains`` package, and the free-mail and
role-account lists are vendored in ``data/`` (each file names its source in its header).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import idna
from disposable_email_domains import blocklist as _DISPOSABLE
from email_validator import EmailNotValidError, validate_email

if TYPE_CHECKING:
    import tldextract

DATA_DIR = Path(__file__).resolve().parent / "data"
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_WWW_RE = re.compile(r"^www\d*\.")
_SEPARATOR_RE = re.compile(r"[._-]")
_MAX_DOMAIN_LENGTH = 253


class InvalidDomain(ValueError):
    """The text is not a usable internet domain name."""


# --- domains ------------------------------------------------------------------------------


def clean_domain(raw: str, *, keep_www: bool = False) -> str:
    """Reduce a URL, an address or a hand-typed domain to a lower-case ASCII host name.

    The one domain normaliser: lead domains, pattern keys, MX look-ups, provider inputs and
    their cache keys all go through it (or :func:`normalise_domain`), so they agree.

    ``"https://user@WWW.Bücher.de:443/team?x=1"`` → ``"xn--bcher-kva.de"``. Removes the scheme,
    user-info, port, path, query, a leading ``www.`` (unless ``keep_www``: the domain of an
    address or a mail host is a DNS name to use as it is) and a trailing dot, and IDNA-encodes
    international names. Raises :class:`InvalidDomain` for anything that is not a public
    host name (IP addresses, single labels, bad characters).
    """
    if not isinstance(raw, str):
        raise InvalidDomain(f"domain must be text, not {type(raw).__name__}")
    text = raw.strip()
    if not text:
        raise InvalidDomain("domain is empty")
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    if "://" not in text:
        if "@" in text and "/" not in text:
            text = text.rpartition("@")[2]  # an address: keep its domain
        text = "//" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError as exc:
        raise InvalidDomain(f"cannot read a host name from {raw!r}: {exc}") from exc
    host = host.strip().rstrip(".")
    if not host or any(ch.isspace() for ch in host):
        raise InvalidDomain(f"no host name in {raw!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise InvalidDomain(f"{raw!r} is an IP address, not a domain")
    if not keep_www and "." in _WWW_RE.sub("", host):  # "www.com" is a name, not a prefix
        host = _WWW_RE.sub("", host)
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InvalidDomain(f"{raw!r} is not a valid international domain name: {exc}") from exc
    labels = ascii_host.split(".")
    if len(labels) < 2:
        raise InvalidDomain(f"{raw!r} has no top-level domain")
    if len(ascii_host) > _MAX_DOMAIN_LENGTH:
        raise InvalidDomain(f"{raw!r} is longer than {_MAX_DOMAIN_LENGTH} characters")
    for label in labels:
        if not _LABEL_RE.match(label):
            raise InvalidDomain(f"{raw!r} has an invalid label {label!r}")
    if labels[-1].isdigit():
        raise InvalidDomain(f"{raw!r} has a numeric top-level domain")
    return ascii_host


@functools.lru_cache(maxsize=4096)
def normalise_domain(raw: str, *, keep_www: bool = False) -> str | None:
    """:func:`clean_domain`, or None when ``raw`` is not a domain: for values that may be
    anything (a CSV cell, a provider's website field, a template's input)."""
    try:
        return clean_domain(raw, keep_www=keep_www)
    except InvalidDomain:
        return None


@functools.cache
def _extractor() -> tldextract.TLDExtract:
    # No suffix-list URLs and no disk cache: only the snapshot bundled with the package is
    # used, so this works offline (ENRICH_OFFLINE) and never writes to the home directory.
    # Imported here: loading tldextract and its list costs about 0.3 s, which a bulk
    # verification that never needs a registrable domain should not pay.
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def registrable_domain(raw: str) -> str:
    """The domain a company registered: ``mail.eu.acme.co.uk`` → ``acme.co.uk``."""
    host = clean_domain(raw)
    parts = _extractor()(host)
    if not parts.suffix or not parts.domain:
        raise InvalidDomain(f"{host!r} is not under a known public suffix")
    return f"{parts.domain}.{parts.suffix}"


# --- syntax -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntaxResult:
    """Outcome of :func:`check_syntax`. ``normalized`` lower-cases the local part (mailbox
    providers treat it case-insensitively in practice) and keeps the Unicode domain form;
    ``domain`` is the ASCII (IDNA) domain, the one DNS needs."""

    valid: bool
    normalized: str = ""
    local: str = ""
    domain: str = ""
    reason: str = ""


# RFC 5322 dot-atom with ASCII atext only: the shape of nearly every real address, and one
# email-validator accepts as it is (it rejects quoted local parts by default).
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=65536)
def _checked_domain(domain: str) -> tuple[str, str] | str:
    """(display domain, ASCII domain) for a valid domain, else the reason it is not.

    A bulk file has many addresses per domain; the domain's checks (IDNA, reserved names,
    label rules) are the expensive part of email-validator, so they run once per domain.
    """
    try:
        result = validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return result.domain, result.ascii_domain


def check_syntax(email: str) -> SyntaxResult:
    """Check an address's syntax with email-validator, without any DNS lookup."""
    if not isinstance(email, str) or not email.strip():
        return SyntaxResult(valid=False, reason="the address is empty")
    text = email.strip()
    local, at, domain = text.rpartition("@")
    if at and len(text) <= 254 and len(local) <= 64 and _PLAIN_LOCAL.fullmatch(local):
        checked = _checked_domain(domain)
        if isinstance(checked, str):
            return SyntaxResult(valid=False, reason=checked)
        display, ascii_domain = checked
        local = local.lower()
        return SyntaxResult(
            valid=True, normalized=f"{local}@{display}", local=local, domain=ascii_domain
        )
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return SyntaxResult(valid=False, reason=str(exc))
    local = result.local_part.lower()
    return SyntaxResult(
        valid=True,
        normalized=f"{local}@{result.domain}",
        local=local,
        domain=result.ascii_domain,
    )


# --- lists --------------------------------------------------------------------------------


def _read_list(name: str) -> list[str]:
    with (DATA_DIR / name).open(encoding="utf-8") as handle:
        return [
            line.strip().lower() for line in handle if line.strip() and not line.startswith("#")
        ]


@functools.cache
def _free_mail() -> tuple[frozenset[str], frozenset[str]]:
    """(exact domains, names matched under any public suffix) from the vendored list."""
    exact: set[str] = set()
    wildcard: set[str] = set()
    for entry in _read_list("free_mail_domains.txt"):
        if entry.endswith(".*"):
            wildcard.add(entry[:-2])
        else:
            exact.add(entry)
    return frozenset(exact), frozenset(wildcard)


@functools.cache
def _role_accounts() -> frozenset[str]:
    return frozenset(_compact(entry) for entry in _read_list("role_accounts.txt"))


def _compact(local: str) -> str:
    return _SEPARATOR_RE.sub("", local)


def _listed(host: str, names: AbstractSet[str]) -> bool:
    """Whether ``host`` or the domain it belongs to is in ``names``.

    A parent of ``host`` counts only down from its registrable domain (``x.acme.co.uk``
    matches a listed ``acme.co.uk``, never a listed ``co.uk``). The suffix list is consulted
    only when a parent matches, so the common case, a domain on no list, stays cheap.
    """
    if host in names:
        return True
    labels = host.split(".")
    for start in range(1, len(labels) - 1):
        parent = ".".join(labels[start:])
        if parent in names:
            try:
                registrable = registrable_domain(host)
            except InvalidDomain:
                return False
            return len(parent) >= len(registrable)
    return False


def is_free_mail(domain: str) -> bool:
    """Whether addresses at ``domain`` are consumer webmail (gmail.com, yahoo.co.uk...)."""
    try:
        host = clean_domain(domain)
    except InvalidDomain:
        return False
    exact, wildcard = _free_mail()
    if _listed(host, exact):
        return True
    # "yahoo.*" entries: any public suffix. Only a label on that list needs the suffix list.
    if wildcard.isdisjoint(host.split(".")):
        return False
    try:
        registrable = registrable_domain(host)
    except InvalidDomain:
        return False
    return registrable.partition(".")[0] in wildcard


def is_disposable(domain: str) -> bool:
    """Whether ``domain`` (or the domain it belongs to) is a throw-away mailbox service."""
    try:
        host = clean_domain(domain)
    except InvalidDomain:
        return False
    return _listed(host, _DISPOSABLE)


def is_role_account(local: str) -> bool:
    """Whether a local part names a role rather than a person (``info``, ``no-reply``...).

    Matches the whole local part with separators ignored, and also a role word followed by a
    short qualifier (``sales.uk``, ``support-emea``, ``info2``), which companies use for
    regional or numbered shared inboxes. A longer remainder (``it.johnson``) is a person.
    """
    roles = _role_accounts()
    text = local.strip().lower().split("+", 1)[0]
    if _compact(text) in roles or _compact(text.rstrip("0123456789")) in roles:
        return True
    head, *rest = _SEPARATOR_RE.split(text)
    return bool(rest) and head in roles and all(len(part) <= 4 for part in rest)


# --- typos --------------------------------------------------------------------------------

# Domains people mistype most: a one-letter slip from these is almost surely a typo.
_POPULAR_DOMAINS = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "icloud.com",
    "aol.com",
    "msn.com",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.ru",
    "yandex.ru",
    "comcast.net",
)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when ``a`` becomes ``b`` by one insertion, deletion, substitution or swap."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return any(longer[:i] + longer[i + 1 :] == shorter for i in range(len(longer)))


def suggest_typo(domain: str) -> str | None:
    """A likely intended domain for a mistyped popular one (``gmial.com`` → ``gmail.com``,
    ``gmail.con`` → ``gmail.com``): one inserted, dropped, changed or swapped character.

    Returns None for domains that are themselves known (``mail.com`` is a real provider, not a
    typo of ``gmail.com``) and for everything else: business domains are never "corrected".
    """
    try:
        host = clean_domain(domain)
    except InvalidDomain:
        return None
    if host in _POPULAR_DOMAINS or is_free_mail(host):
        return None
    for candidate in _POPULAR_DOMAINS:
        if _edit_distance_at_most_one(host, candidate):
            return candidate
    return None
