"""Learn which address patterns a domain uses from the addresses we already know there.

The model is a Dirichlet-multinomial. Before any evidence a domain uses pattern *k* with the
global prior ``prior[k]`` (:data:`~enrichment.emails.permutations.PRIORS`), held with a
strength of :data:`PRIOR_STRENGTH` pseudo-examples. Every known address adds its weight to the
patterns that explain it, and the posterior probability of pattern *k* is::

    alpha[k] = PRIOR_STRENGTH * prior[k] + counts[k]
    P(k)     = alpha[k] / sum(alpha)

Why a strength of 2: one known address is already strong evidence (mail admins apply one
pattern to everybody), so one example of even the rarest pattern (last_first, prior .01) must
outrank the most common one: ``2*.01 + 1 = 1.02 > 2*.41 = .82``. Two conflicting examples
leave both patterns well above the rest, and a domain using two patterns (a 2:1 mix) ends with
posterior shares close to 2:1 after a handful of examples, because the prior then weighs little.

Ambiguous examples. An address can fit several patterns (``li@`` for Li Li is both ``first``
and ``last``); its weight is split between them in proportion to their priors, which is the
Bayes-correct share under the prior. A name with an initial only (``J. Smith``) cannot be read
as ``first.last``, so it never counts for it.

Bounces. A bounced address is evidence *against* its pattern: its weight is subtracted from the
pattern's counts, which never go below zero; what is left of the bounce then lowers the prior
pseudo-count too, but never below :data:`BOUNCE_FLOOR` of it, because a bounce can also mean the
person left. Positive evidence is added before bounces are subtracted, so the result does not
depend on the order of the examples.

Spelling conventions. A company applies one spelling rule to everybody: "ä" as "ae" or "a", a
compound surname joined or cut to its first part, particles kept or dropped. A known address
whose name offers such a choice tells which one the domain made: a *hit* for the alternative
spelling (``juergen.mueller``) or a *miss* (``jurgen.muller``); names without the choice say
nothing. Each spelling kind gets a Beta posterior whose prior mean matches its global weight in
:data:`~enrichment.emails.permutations.VARIANT_WEIGHTS` (strength :data:`SPELLING_PRIOR_STRENGTH`),
and :meth:`DomainPattern.variant_weights` turns it back into a relative weight, so one
"mueller" at a domain makes "ae" the first guess for the next umlaut. Nicknames are personal,
not a convention, and are not learned.

Evidence counts once. The same address may arrive several times (a stored contact, the same
row in a file imported again, a provider's domain search): each distinct address is one piece
of evidence, with the highest weight any copy carries, or one bounce if any copy bounced.

Templates. Beside the fourteen simple patterns, every domain also gets a
:class:`~enrichment.emails.templates.TemplateModel` (``templates``): templates induced from
its addresses (truncation, middle initials, surname words, family-name-first order for the
names written so) and the addresses already taken, which the finder uses to decide per person
(:mod:`enrichment.emails.templates`). Everything here is pure and deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from enrichment.emails.domains import normalise_domain
from enrichment.emails.names import InvalidName, ParsedName, VariantKind, parse_name_parts
from enrichment.emails.permutations import (
    PATTERN_NAMES,
    PRIORS,
    VARIANT_WEIGHTS,
    detect_pattern,
    explain_local_part,
)
from enrichment.emails.templates import (
    EMPTY_MODEL,
    TemplateExample,
    TemplateModel,
    align,
    learn_templates,
    name_class,
)

PRIOR_STRENGTH = 2.0
SPELLING_PRIOR_STRENGTH = 2.0
LEARNED_SPELLINGS = frozenset(VARIANT_WEIGHTS) - {
    VariantKind.PRIMARY,
    VariantKind.NICKNAME,
    VariantKind.STATED_NICKNAME,
}
BOUNCE_FLOOR = 0.25
SERIALIZATION_VERSION = 2
#: Stored patterns from before templates were learned still load (with no templates).
READABLE_VERSIONS = (1, 2)
_ORDER = {name: index for index, name in enumerate(PATTERN_NAMES)}


@dataclass(frozen=True)
class KnownEmail:
    """An address known to belong to a person (from a CSV row, a provider, a past find).

    ``weight`` says how much to trust it (1.0 = one confirmed address); ``bounced=True`` or a
    negative weight marks an address that bounced, which counts against its pattern.
    """

    email: str
    first: str
    last: str
    weight: float = 1.0
    source: str = ""
    bounced: bool = False

    @property
    def signed_weight(self) -> float:
        return -abs(self.weight) if self.bounced else self.weight

    @property
    def domain(self) -> str:
        """The pattern key: the address's domain cleaned as a lead's domain is, so the two
        match however either was typed ("" when it is not a domain)."""
        return normalise_domain(self.email.rpartition("@")[2]) or ""


@dataclass(frozen=True)
class PatternEvidence:
    """What one known address says: the patterns that explain it and with what weight.

    ``patterns`` is empty when nothing explains it; ``reason`` then says why. ``spelling``
    maps each spelling choice the name offered to whether the address used the alternative
    (True: ``juergen``) or the primary spelling (False: ``jurgen``).
    """

    email: str
    patterns: tuple[str, ...]
    weight: float
    source: str = ""
    reason: str = ""
    spelling: dict[str, bool] = field(default_factory=dict)

    @property
    def explained(self) -> bool:
        return bool(self.patterns)

    def shares(self, prior: Mapping[str, float] = PRIORS) -> dict[str, float]:
        """The weight each pattern receives, split in proportion to the prior."""
        total = sum(prior[p] for p in self.patterns)
        return {p: self.weight * prior[p] / total for p in self.patterns}


def explain_example(example: KnownEmail) -> PatternEvidence:
    """Which patterns explain a known address for its person's name."""
    weight = example.signed_weight
    local, at, domain = example.email.strip().rpartition("@")
    if not at or not local or not domain:
        return PatternEvidence(example.email, (), weight, example.source, "not an email address")
    try:
        parsed = parse_name_parts(example.first, example.last)
    except InvalidName as exc:
        return PatternEvidence(example.email, (), weight, example.source, f"bad name: {exc}")
    patterns = tuple(detect_pattern(local, parsed))
    reason = "" if patterns else "no known pattern builds this address from the name"
    kinds_used = {kind for _, kind in explain_local_part(local, parsed)}
    spelling = {}
    for kind in sorted({v.kind for v in parsed.alternatives} & LEARNED_SPELLINGS):
        # Only an address that fits one of the two spellings, not both, tells which one.
        if (kind in kinds_used) != (VariantKind.PRIMARY in kinds_used):
            spelling[str(kind)] = kind in kinds_used
    return PatternEvidence(example.email, patterns, weight, example.source, reason, spelling)


@dataclass(frozen=True)
class DomainPattern:
    """A domain's learned pattern distribution and the evidence behind it.

    ``distribution`` covers every known pattern, most probable first; ``top`` is its first key.
    ``support`` counts the known addresses that fit ``top``; ``share`` is the fraction of the
    (net) evidence weight that went to ``top``; ``examples`` counts the known addresses that
    some pattern explains (``unexplained`` and ``bounces`` are counted apart). ``counts`` and
    ``bounce_counts`` are the evidence weights per pattern, ``spelling_hits`` and
    ``spelling_misses`` per spelling kind, kept so the result can be stored and explained.
    """

    distribution: dict[str, float]
    top: str
    support: int = 0
    share: float = 0.0
    examples: int = 0
    counts: dict[str, float] = field(default_factory=dict)
    bounce_counts: dict[str, float] = field(default_factory=dict)
    unexplained: int = 0
    bounces: int = 0
    prior_strength: float = PRIOR_STRENGTH
    spelling_hits: dict[str, float] = field(default_factory=dict)
    spelling_misses: dict[str, float] = field(default_factory=dict)
    templates: TemplateModel = EMPTY_MODEL

    def variant_weights(self) -> dict[str, float]:
        """Learned weight, relative to the primary spelling, of each spelling kind with evidence."""
        weights = {}
        for kind in sorted(set(self.spelling_hits) | set(self.spelling_misses)):
            prior_weight = VARIANT_WEIGHTS[VariantKind(kind)]
            pseudo_hits = SPELLING_PRIOR_STRENGTH * prior_weight / (1 + prior_weight)
            hits = self.spelling_hits.get(kind, 0.0)
            misses = self.spelling_misses.get(kind, 0.0)
            used = (pseudo_hits + hits) / (SPELLING_PRIOR_STRENGTH + hits + misses)
            weights[kind] = used / (1 - used)
        return weights

    def probability(self, pattern: str) -> float:
        return self.distribution.get(pattern, 0.0)

    def ranked(self, limit: int | None = None) -> list[tuple[str, float]]:
        """(pattern, probability) pairs, most probable first."""
        return list(self.distribution.items())[:limit]

    def support_for(self, pattern: str) -> float:
        """Net evidence weight for ``pattern`` (fractional when examples were ambiguous)."""
        return self.counts.get(pattern, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` gives an equal object back."""
        return {
            "version": SERIALIZATION_VERSION,
            "distribution": dict(self.distribution),
            "top": self.top,
            "support": self.support,
            "share": self.share,
            "examples": self.examples,
            "counts": dict(self.counts),
            "bounce_counts": dict(self.bounce_counts),
            "unexplained": self.unexplained,
            "bounces": self.bounces,
            "prior_strength": self.prior_strength,
            "spelling_hits": dict(self.spelling_hits),
            "spelling_misses": dict(self.spelling_misses),
            "templates": self.templates.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainPattern:
        version = data.get("version")
        if version not in READABLE_VERSIONS:
            raise ValueError(f"unsupported DomainPattern version {version!r}")
        unknown = set(data["distribution"]) - set(PATTERN_NAMES)
        if unknown:
            raise ValueError(f"unknown patterns in stored distribution: {sorted(unknown)}")
        return cls(
            distribution={str(k): float(v) for k, v in data["distribution"].items()},
            top=str(data["top"]),
            support=int(data["support"]),
            share=float(data["share"]),
            examples=int(data["examples"]),
            counts={str(k): float(v) for k, v in data.get("counts", {}).items()},
            bounce_counts={str(k): float(v) for k, v in data.get("bounce_counts", {}).items()},
            unexplained=int(data.get("unexplained", 0)),
            bounces=int(data.get("bounces", 0)),
            prior_strength=float(data.get("prior_strength", PRIOR_STRENGTH)),
            spelling_hits={str(k): float(v) for k, v in data.get("spelling_hits", {}).items()},
            spelling_misses={str(k): float(v) for k, v in data.get("spelling_misses", {}).items()},
            templates=TemplateModel.from_dict(data.get("templates", {})),
        )


def prior_pattern(*, prior: Mapping[str, float] = PRIORS) -> DomainPattern:
    """What we believe about a domain we know nothing about."""
    return learn_domain_patterns((), prior=prior)


def learn_domain_patterns(
    examples: Iterable[KnownEmail],
    *,
    prior: Mapping[str, float] = PRIORS,
    prior_strength: float = PRIOR_STRENGTH,
) -> DomainPattern:
    """Learn one domain's pattern distribution from its known addresses (see module docs).

    All examples are taken to be at the same domain; group them first with
    :func:`learn_patterns_by_domain` when they are not.
    """
    if prior_strength <= 0:
        raise ValueError("prior_strength must be positive")
    unknown = set(prior) - set(PATTERN_NAMES)
    if unknown:
        raise ValueError(f"unknown patterns in prior: {sorted(unknown)}")
    prior_total = sum(prior.get(name, 0.0) for name in PATTERN_NAMES)
    if prior_total <= 0:
        raise ValueError("prior must give some pattern a positive probability")
    norm_prior = {name: prior.get(name, 0.0) / prior_total for name in PATTERN_NAMES}

    examples = dedupe_examples(examples)
    template_examples: list[TemplateExample] = []
    positive: Counter[str] = Counter()
    negative: Counter[str] = Counter()
    fitting: Counter[str] = Counter()
    spelling_hits: Counter[str] = Counter()
    spelling_misses: Counter[str] = Counter()
    examples_count = unexplained = bounces = 0
    for example in examples:
        evidence = explain_example(example)
        if evidence.weight == 0:
            continue
        aligned = _template_example(example, evidence.weight)
        if aligned is not None:
            template_examples.append(aligned)
        if evidence.weight < 0:
            bounces += 1
        if not evidence.explained or sum(norm_prior[p] for p in evidence.patterns) == 0:
            # Unexplained, or explained only by patterns the caller's prior rules out.
            if evidence.weight > 0:
                unexplained += 1
            continue
        shares = evidence.shares(norm_prior)
        if evidence.weight > 0:
            examples_count += 1
            fitting.update(evidence.patterns)
            positive.update(shares)
            for kind, used in evidence.spelling.items():
                (spelling_hits if used else spelling_misses)[kind] += evidence.weight
        else:
            negative.update({p: -w for p, w in shares.items()})

    alpha: dict[str, float] = {}
    counts: dict[str, float] = {}
    for name in PATTERN_NAMES:
        pseudo = prior_strength * norm_prior[name]
        net = positive[name] - negative[name]
        counts[name] = max(0.0, net)
        # A bounce beyond the positive evidence eats into the prior, down to a floor.
        alpha[name] = max(BOUNCE_FLOOR * pseudo, pseudo + net)
    total = sum(alpha.values())
    ordered = sorted(PATTERN_NAMES, key=lambda n: (-alpha[n], _ORDER[n]))
    distribution = {name: alpha[name] / total for name in ordered}
    top = ordered[0]
    evidence_total = sum(counts.values())
    return DomainPattern(
        distribution=distribution,
        top=top,
        support=fitting[top],
        share=counts[top] / evidence_total if evidence_total > 0 else 0.0,
        examples=examples_count,
        counts={name: counts[name] for name in ordered if counts[name] > 0},
        bounce_counts={n: negative[n] for n in PATTERN_NAMES if negative[n] > 0},
        unexplained=unexplained,
        bounces=bounces,
        prior_strength=prior_strength,
        spelling_hits=dict(sorted(spelling_hits.items())),
        spelling_misses=dict(sorted(spelling_misses.items())),
        templates=learn_templates(template_examples),
    )


def dedupe_examples(examples: Iterable[KnownEmail]) -> list[KnownEmail]:
    """One example per distinct address (see "Evidence counts once" in the module docs)."""
    kept: dict[str, KnownEmail] = {}
    for example in examples:
        key = example.email.strip().lower()
        held = kept.get(key)
        if held is None or (example.bounced, abs(example.weight)) > (
            held.bounced,
            abs(held.weight),
        ):
            kept[key] = example
    return list(kept.values())


def _template_example(example: KnownEmail, weight: float) -> TemplateExample | None:
    local, at, _ = example.email.strip().lower().rpartition("@")
    if not at or not local:
        return None
    try:
        parsed: ParsedName = parse_name_parts(example.first, example.last)
    except InvalidName:
        return None
    return TemplateExample(local, weight, name_class(parsed), align(local, parsed))


def learn_patterns_by_domain(
    examples: Iterable[KnownEmail],
    *,
    prior: Mapping[str, float] = PRIORS,
    prior_strength: float = PRIOR_STRENGTH,
) -> dict[str, DomainPattern]:
    """Group known addresses by their domain and learn each domain's patterns."""
    grouped: dict[str, list[KnownEmail]] = {}
    for example in examples:
        if example.domain:
            grouped.setdefault(example.domain, []).append(example)
    return {
        domain: learn_domain_patterns(group, prior=prior, prior_strength=prior_strength)
        for domain, group in sorted(grouped.items())
    }
