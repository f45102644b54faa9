"""Address patterns and the candidate addresses they give for a person at a domain.

A *pattern* is how a company builds local parts from names, written with four tokens:
``{first}`` (given name), ``{last}`` (joined surname), ``{f}`` and ``{l}`` (their initials).
:data:`PATTERNS` lists the ones we know, in the seed's order of priority for its first eight,
each with a global prior: the probability that a company we know nothing about uses it.

Priors. No rigorous public statistics exist: vendor blogs claim about 60 % first.last, and the
open-source tools list the same dozen patterns without numbers. These priors are our estimate,
rounded so they sum to exactly 1: first.last .41, first .12, flast .12, firstlast .08, f.last
.05, first_last .03, first.l .03, last.first .03, firstl .03, first-last .03, f_last .02, lastf
.02, last .02, last_first .01 (the brief proposed first.last .40 and firstlast .07; we moved
.02 to them so the table sums to one). first.last stays below the blogs' 60 % on purpose: their
figures are unaudited, and a lower prior lets a single known address take over sooner.
:mod:`enrichment.emails.patterns` replaces these with a learned distribution as soon as a domain
has known addresses.

Name variants. A person's name may be spelled several ways (``jurgen``/``juergen``, ``jean``
for Jean-Pierre, ``bill`` for William). Each :class:`~enrichment.emails.names.VariantKind`
has a total weight in :data:`VARIANT_WEIGHTS` relative to the primary spelling (1.0), or the
weight learned from the domain's known addresses (a company writes "mueller" for everybody or
for nobody, see :mod:`enrichment.emails.patterns`), shared evenly by the variants of that kind; a variant's probability is its weight over the sum of all
weights for this person. A candidate's probability is the sum, over every (pattern, variant)
that renders it, of P(pattern at the domain) × P(variant). Patterns that cannot be rendered for
this person (``{first}`` when only an initial is known) keep their mass, so the probabilities
sum to less than one when part of the answer is out of reach: a guess is never made to look
surer than it is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from enrichment.emails.names import NameVariant, ParsedName, VariantKind


class PatternSpec(NamedTuple):
    name: str
    prior: float
    template: str


PATTERNS: tuple[PatternSpec, ...] = (
    # The seed's eight, in its order of priority.
    PatternSpec("first.last", 0.41, "{first}.{last}"),
    PatternSpec("firstlast", 0.08, "{first}{last}"),
    PatternSpec("first_last", 0.03, "{first}_{last}"),
    PatternSpec("f.last", 0.05, "{f}.{last}"),
    PatternSpec("flast", 0.12, "{f}{last}"),
    PatternSpec("first.l", 0.03, "{first}.{l}"),
    PatternSpec("first", 0.12, "{first}"),
    PatternSpec("last.first", 0.03, "{last}.{first}"),
    # The rest.
    PatternSpec("firstl", 0.03, "{first}{l}"),
    PatternSpec("f_last", 0.02, "{f}_{last}"),
    PatternSpec("lastf", 0.02, "{last}{f}"),
    PatternSpec("last", 0.02, "{last}"),
    PatternSpec("first-last", 0.03, "{first}-{last}"),
    PatternSpec("last_first", 0.01, "{last}_{first}"),
)
PATTERN_NAMES: tuple[str, ...] = tuple(p.name for p in PATTERNS)
PRIORS: dict[str, float] = {p.name: p.prior for p in PATTERNS}
DEFAULT_PATTERN = "first.last"
_TEMPLATES: dict[str, str] = {p.name: p.template for p in PATTERNS}
_ORDER: dict[str, int] = {name: index for index, name in enumerate(PATTERN_NAMES)}

# Total weight of each kind of spelling variant, relative to the primary spelling.
VARIANT_WEIGHTS: dict[VariantKind, float] = {
    VariantKind.PRIMARY: 1.0,
    VariantKind.TRANSLITERATION: 0.5,  # German firms write "mueller" nearly as often as "muller"
    VariantKind.STATED_NICKNAME: 0.5,  # the person told us they go by it
    VariantKind.SURNAME_FIRST_PART: 0.35,  # Spanish: the paternal surname alone
    VariantKind.FIRST_NAME_FIRST_PART: 0.3,
    VariantKind.SURNAME_WITHOUT_PARTICLE: 0.3,
    VariantKind.HYPHENATED: 0.2,
    VariantKind.SURNAME_LAST_PART: 0.15,  # Portuguese: the last surname alone
    VariantKind.NICKNAME: 0.1,  # table nicknames: plausible, rarely in a work address
}

# What a rendered local part may look like: letters and digits, single separators between.
_LOCAL_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_MAX_LOCAL_LENGTH = 64  # RFC 5321


class HasDistribution(Protocol):
    """Anything with a learned pattern distribution (a ``DomainPattern``)."""

    @property
    def distribution(self) -> Mapping[str, float]: ...

    def variant_weights(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class Candidate:
    """One guessed address. ``pattern`` is the pattern contributing most to ``probability``;
    ``patterns`` lists every pattern that renders this address for this person."""

    email: str
    local_part: str
    pattern: str
    prior: float
    probability: float
    patterns: tuple[str, ...] = ()
    variant: VariantKind = VariantKind.PRIMARY


def render_variant(pattern: str, variant: NameVariant) -> str | None:
    """The local part ``pattern`` gives for one spelling, or None if it cannot be built.

    ``{first}`` needs a given name that is more than an initial, ``{last}`` likewise a surname;
    ``{f}``/``{l}`` need any given name/surname.
    """
    template = _TEMPLATES.get(pattern)
    if template is None:
        raise ValueError(f"unknown email pattern {pattern!r}; known: {', '.join(PATTERN_NAMES)}")
    if "{first}" in template and (not variant.first or variant.first_is_initial):
        return None
    if "{last}" in template and (not variant.last or variant.last_is_initial):
        return None
    if "{f}" in template and not variant.first:
        return None
    if "{l}" in template and not variant.last:
        return None
    local = template.format(
        first=variant.first,
        last=variant.last,
        f=variant.first[:1],
        l=variant.last[:1],
    )
    if len(local) > _MAX_LOCAL_LENGTH or not _LOCAL_RE.match(local):
        return None
    return local


def render(pattern: str, parsed: ParsedName) -> str | None:
    """The local part ``pattern`` gives for the primary spelling of ``parsed``."""
    return render_variant(pattern, parsed.primary)


def variant_probabilities(
    parsed: ParsedName, weights: Mapping[str, float] | None = None
) -> list[tuple[NameVariant, float]]:
    """Every spelling of the name with its probability (see the module docstring).

    ``weights`` overrides :data:`VARIANT_WEIGHTS` for some kinds: a domain's learned spelling
    conventions (``DomainPattern.variant_weights()``).
    """
    variants = parsed.variants()
    kind_weights = {**VARIANT_WEIGHTS, **{VariantKind(k): w for k, w in (weights or {}).items()}}
    per_kind: dict[VariantKind, int] = {}
    for variant in variants:
        per_kind[variant.kind] = per_kind.get(variant.kind, 0) + 1
    shares = [kind_weights[v.kind] / per_kind[v.kind] for v in variants]
    total = sum(shares)
    return [(v, w / total) for v, w in zip(variants, shares, strict=True)]


def _distribution(ranking: Mapping[str, float] | HasDistribution | None) -> dict[str, float]:
    """Normalise a ranking to a distribution over known patterns (priors if None)."""
    if ranking is None:
        return dict(PRIORS)
    mapping = ranking if isinstance(ranking, Mapping) else ranking.distribution
    known = {name: max(0.0, float(p)) for name, p in mapping.items() if name in _ORDER}
    total = sum(known.values())
    if total <= 0:
        return dict(PRIORS)
    return {name: p / total for name, p in known.items()}


def generate_candidates(
    parsed: ParsedName,
    domain: str,
    *,
    ranking: Mapping[str, float] | HasDistribution | None = None,
    include_alternatives: bool = True,
    variant_weights: Mapping[str, float] | None = None,
) -> list[Candidate]:
    """Candidate addresses for ``parsed`` at ``domain``, most probable first, no duplicates.

    ``ranking`` is the domain's learned pattern distribution (a ``DomainPattern`` or its
    ``distribution``); without it the global priors are used. Patterns missing from a ranking
    get probability zero and give no candidate. A ``DomainPattern`` also brings the domain's
    learned spelling conventions (``variant_weights``, which an explicit argument overrides).
    ``include_alternatives=False`` keeps only the primary spelling of the name.
    """
    domain = domain.strip().lower().rstrip(".")
    if not domain or "@" in domain or " " in domain:
        raise ValueError(f"not a domain: {domain!r}")
    distribution = _distribution(ranking)
    if variant_weights is None and ranking is not None and not isinstance(ranking, Mapping):
        variant_weights = ranking.variant_weights()
    variants = (
        variant_probabilities(parsed, variant_weights)
        if include_alternatives
        else [(parsed.primary, 1.0)]
    )

    mass: dict[str, float] = {}
    contributions: dict[str, list[tuple[float, int, int, str, VariantKind]]] = {}
    for variant_index, (variant, variant_p) in enumerate(variants):
        for name in PATTERN_NAMES:
            pattern_p = distribution.get(name, 0.0)
            if pattern_p <= 0:
                continue
            local = render_variant(name, variant)
            if local is None:
                continue
            p = pattern_p * variant_p
            mass[local] = mass.get(local, 0.0) + p
            contributions.setdefault(local, []).append(
                (p, variant_index, _ORDER[name], name, variant.kind)
            )

    candidates = []
    for local, entries in contributions.items():
        # The main reading is the largest contribution; ties go to the earlier spelling and
        # the pattern listed first, so the output never depends on dict order.
        entries.sort(key=lambda e: (-e[0], e[1], e[2]))
        _, _, _, best_pattern, best_kind = entries[0]
        candidates.append(
            Candidate(
                email=f"{local}@{domain}",
                local_part=local,
                pattern=best_pattern,
                prior=PRIORS[best_pattern],
                probability=mass[local],
                patterns=tuple(dict.fromkeys(e[3] for e in entries)),
                variant=best_kind,
            )
        )
    candidates.sort(
        key=lambda c: (
            -round(c.probability, 12),
            c.variant != VariantKind.PRIMARY,
            _ORDER[c.pattern],
            c.local_part,
        )
    )
    return candidates


def normalize_local_part(local_part: str) -> str:
    """Lower-case and drop a ``+tag`` sub-address (``John.Smith+news`` → ``john.smith``)."""
    return local_part.strip().lower().split("+", 1)[0]


def explain_local_part(local_part: str, parsed: ParsedName) -> list[tuple[str, VariantKind]]:
    """Every (pattern, spelling kind) that renders ``local_part`` for this person."""
    local = normalize_local_part(local_part)
    found: list[tuple[str, VariantKind]] = []
    for variant in parsed.variants():
        for name in PATTERN_NAMES:
            if render_variant(name, variant) == local and (name, variant.kind) not in found:
                found.append((name, variant.kind))
    return found


def detect_pattern(local_part: str, parsed: ParsedName) -> list[str]:
    """Every pattern name that renders ``local_part`` for this person, in PATTERNS order.

    Spelling alternatives count (``marco.sar`` is first.last for Marco van der Sar), but when
    the primary spelling explains the address, alternative readings are left out: the plain
    reading is far more likely than a coincidence through a nickname or a dropped particle.
    """
    found = explain_local_part(local_part, parsed)
    primary = [name for name, kind in found if kind is VariantKind.PRIMARY]
    names = primary or [name for name, _ in found]
    return sorted(set(names), key=_ORDER.__getitem__)
