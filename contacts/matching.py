"""Match keys: the normalised values that say two records are the same person.

Three keys, tried in this order by ``contacts.selectors.contact_find_match``:

- :func:`email_key`: the work address, trimmed and lower-cased (``Ada@Acme.COM`` → ``ada@acme.com``).
- :func:`linkedin_key`: a LinkedIn profile URL without scheme, ``www.`` or country host, query,
  fragment, trailing slash or sub-page, lower-cased: ``linkedin.com/in/<handle>``.
- :func:`name_key`: the person's folded first and last name at the company's domain,
  ``jose garcialopez@acme.com``. Names are parsed by ``enrichment.emails.names`` so accents fold
  (``José`` → ``jose``), case, spacing, honorifics and suffixes are ignored, particles stay in
  the joined surname (``van der Sar`` and ``Van Der Sar`` and ``Vandersar`` → ``vandersar``) and
  hyphens are dropped (``García-López`` → ``garcialopez``). Middle names are left out, so
  ``Ada King Lovelace`` and ``Ada Lovelace`` at one domain are one person. A name at a free-mail
  domain (gmail.com...) identifies no one and gives no key.

Every function returns ``""`` when its input gives no usable key; an empty key never matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from enrichment.emails.domains import is_free_mail, normalise_domain
from enrichment.emails.names import InvalidName, ParsedName, parse_name, parse_name_parts

# Column sizes of the stored keys (EnrichedContact.name_key / linkedin_key); a value that
# does not fit gives no key rather than a truncated one that could match someone else.
NAME_KEY_MAX_LENGTH = 400
LINKEDIN_KEY_MAX_LENGTH = 200

_LINKEDIN_HOST_RE = re.compile(r"^(?:[a-z0-9-]+\.)?linkedin\.com$")
# LinkedIn's own handles are letters, digits and hyphens (3-100); older or localised ones
# also carry underscores, dots and non-ASCII letters (seen percent-encoded in URLs).
_LINKEDIN_HANDLE_RE = re.compile(r"^[\w.-]{2,100}$")


def email_key(email: str | None) -> str:
    """The address trimmed and lower-cased, or ``""`` when it is not ``local@domain``."""
    if not isinstance(email, str):
        return ""
    text = email.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(ch.isspace() for ch in text):
        return ""
    return text


def linkedin_key(url: str | None) -> str:
    """``linkedin.com/in/<handle>`` for a LinkedIn profile URL, else ``""``.

    Accepts the forms people paste: with or without ``https://``, ``www.`` or a country host
    (``uk.linkedin.com``), a trailing slash, a query (``?trk=...``), a fragment or a sub-page
    (``/in/ada/details/experience``). Company pages and other paths give no key.
    """
    if not isinstance(url, str) or not url.strip():
        return ""
    text = url.strip()
    if "://" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return ""
    if not _LINKEDIN_HOST_RE.match(host):
        return ""
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) < 2 or segments[0].lower() != "in":
        return ""
    handle = unquote(segments[1]).strip().lower()
    if not _LINKEDIN_HANDLE_RE.match(handle):
        return ""
    key = f"linkedin.com/in/{handle}"
    return key if len(key) <= LINKEDIN_KEY_MAX_LENGTH else ""


@dataclass(frozen=True)
class MatchKeys:
    """All three keys of one record; any of them may be ``""``."""

    email: str = ""
    linkedin: str = ""
    name: str = ""
    # Other readings of the name worth looking up (see name_keys); never stored.
    other_names: tuple[str, ...] = ()


def _parsed(first_name: str, last_name: str, full_name: str) -> ParsedName | None:
    try:
        if (first_name or "").strip() or (last_name or "").strip():
            return parse_name_parts(first_name or "", last_name or "")
        if (full_name or "").strip():
            return parse_name(full_name)
    except InvalidName:
        return None
    return None


def _host(domain: str | None) -> str:
    host = normalise_domain(domain) if isinstance(domain, str) and domain else None
    return "" if not host or is_free_mail(host) else host


def _key(first: str, last: str, host: str) -> str:
    key = f"{first} {last}@{host}"
    return key if len(key) <= NAME_KEY_MAX_LENGTH else ""


def name_key(
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    full_name: str | None = None,
    domain: str | None = None,
) -> str:
    """``first last@domain`` folded (see the module docstring), or ``""``.

    Separate first and last names win over ``full_name``. No key without both a first and a
    last name (a first name alone at a company is not one person) and a company domain.
    """
    return name_keys(
        first_name=first_name, last_name=last_name, full_name=full_name, domain=domain
    )[0]


def name_keys(
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    full_name: str | None = None,
    domain: str | None = None,
) -> tuple[str, ...]:
    """:func:`name_key` first, then the other reading of a full name with more than two
    words: ``José García López`` is ``jose lopez`` (a middle name) or ``jose garcialopez``
    (a double surname), and only the stored first and last names can tell. ``("",)`` when
    there is no key."""
    host = _host(domain)
    parsed = _parsed(first_name or "", last_name or "", full_name or "") if host else None
    if parsed is None or not parsed.first or not parsed.last:
        return ("",)
    if parsed.first_is_initial or parsed.last_is_initial:
        return ("",)  # "J. Smith" may be any of several people at one company
    keys = [_key(parsed.first, parsed.last, host)]
    separate = (first_name or "").strip() or (last_name or "").strip()
    if parsed.middle and not separate:
        keys.append(_key(parsed.first, "".join(parsed.middle) + parsed.last, host))
    return tuple(dict.fromkeys(k for k in keys if k)) or ("",)


def match_keys(
    *,
    email: str | None = None,
    linkedin_url: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    full_name: str | None = None,
    domain: str | None = None,
) -> MatchKeys:
    """The three keys of one record, from its canonical values."""
    names = name_keys(
        first_name=first_name, last_name=last_name, full_name=full_name, domain=domain
    )
    return MatchKeys(
        email=email_key(email),
        linkedin=linkedin_key(linkedin_url),
        name=names[0],
        other_names=names[1:],
    )
