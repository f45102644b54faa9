"""Address templates induced from a domain's known addresses, and the guesses they give.

A *template* says how a local part is built from the pieces of a name: ``{first}``, ``{f}``
(its initial), ``{middle}`` and ``{m}`` (the first middle name and its initial), ``{last}``
(the surname's words joined), ``{last.}`` / ``{last_}`` / ``{last-}`` (the words joined with
that separator: ``anna.van.dijk``), ``{l}``; a ``~N`` suffix cuts the result to N characters
(legacy 8-character logins). :data:`GRAMMAR` lists every template we try to align a known
address with, in both orders (``{last}{first}`` for names a company writes family name first).

Learning (:func:`learn_templates`). Each known address is aligned with its owner's name: every
template (and spelling of the name) that renders it explains it. An address that is a rendering
plus a number (``john.smith2``) counts for that template and says the domain numbers
collisions; ``{m}`` matches any letter when the written name shows no middle name, because
companies often know one the name column does not show. Evidence is shared among the templates
that explain an address in proportion to their current weight at the domain (a few rounds of
expectation-maximisation, from the global prior), so one truncated long name makes the short
names beside it count for the truncating template too. Addresses nothing explains count for
:data:`OTHER`: nicknames, login ids, which no rule can guess; and since an alias can match
a rare template by chance (``sheilaha`` is Sheila Hart cut to 8), every address keeps a small
:data:`OTHER_LIKELIHOOD` of being one. Chinese and Korean names are
counted apart (:func:`name_class`), because a domain may write them family name first and
everybody else given name first: their given-name-first templates are turned round
(:data:`FAMILY_FIRST_FORM`) in the share of them the domain writes so (a Beta posterior from
:data:`FAMILY_FIRST_PRIOR`).

Guessing (:func:`template_candidates`). A template's probability at the domain is its share of
``PRIOR_STRENGTH * prior + evidence`` (Dirichlet-multinomial, as for the simple patterns); a
candidate's probability is the sum over the templates and spellings that render it. An address
that already belongs to another known person is not a guess: its mass goes to what the domain
does on a collision (the middle initial, or the next number). Everything here is pure and
deterministic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from enrichment.emails.name_tables import EAST_ASIAN_SURNAMES
from enrichment.emails.names import NameVariant, ParsedName, VariantKind

OTHER = "other"
EAST_ASIAN = "east_asian"
DEFAULT_CLASS = "default"
PRIOR_STRENGTH = 2.0
#: How much the addresses of people in the other name class say about this one's.
CROSS_CLASS_WEIGHT = 0.5
EM_ROUNDS = 8
#: How likely an alias (an address no rule builds) is to match one given template's rendering.
OTHER_LIKELIHOOD = 0.02
TRUNCATIONS = (8, 7, 6)
_LOCAL_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TOKEN_RE = re.compile(r"\{(first|f|middle|m|last|last\.|last_|last-|l)\}")
_HIDDEN = "\x00"  # stands for a middle initial the written name does not show


def _grammar() -> dict[str, float]:
    """Every base template with its global prior weight (normalised below).

    The weights follow the shares of real addresses in our reference sample (the
    ``{f}{last}`` / ``{first}.{last}`` split taken from the larger sample: 17 % / 38 %); the
    induced forms (middle initials, joined surname words, truncations) start small and are
    learned from a domain's addresses.
    """
    weights = {
        "{first}.{last}": 0.33,
        "{f}{last}": 0.20,
        "{first}{l}": 0.045,
        "{first}": 0.04,
        "{first}{last}": 0.03,
        "{last}": 0.015,
        "{last}{first}": 0.012,
        "{last}.{first}": 0.012,
        "{last}{f}": 0.01,
        "{f}.{last}": 0.012,
        "{first}_{last}": 0.012,
        "{first}-{last}": 0.008,
        "{first}.{l}": 0.006,
        "{last}_{first}": 0.002,
        "{f}_{last}": 0.002,
        "{f}{l}": 0.002,
        "{f}{m}{last}": 0.02,
        "{first}.{m}.{last}": 0.01,
        "{first}{m}{last}": 0.002,
        "{first}{middle}.{last}": 0.003,
        "{first}{middle}": 0.001,
        "{first}.{middle}.{last}": 0.001,
    }
    # Surname words joined by the template's own separator instead of run together.
    for template, weight in list(weights.items()):
        for sep in (".", "_", "-"):
            if f"{sep}{{last}}" in template or f"{{last}}{sep}" in template:
                weights[template.replace("{last}", f"{{last{sep}}}")] = weight * 0.5
    # Legacy logins cut to a fixed length.
    for template in ("{f}{last}", "{first}{last}", "{f}{m}{last}", "{last}{f}", "{last}{first}"):
        for n, share in zip(TRUNCATIONS, (0.06, 0.015, 0.015), strict=True):
            weights[f"{template}~{n}"] = weights[template] * share
    return weights


_WEIGHTS = _grammar()
#: The share of addresses no template explains (aliases, login ids): 18 % in the reference.
OTHER_PRIOR = 0.18
TEMPLATE_PRIORS: dict[str, float] = {
    t: w * (1 - OTHER_PRIOR) / sum(_WEIGHTS.values()) for t, w in _WEIGHTS.items()
}
GRAMMAR: tuple[str, ...] = tuple(TEMPLATE_PRIORS)
_ORDER = {t: i for i, t in enumerate(GRAMMAR)}
_FAMILY_FIRST = frozenset(t for t in GRAMMAR if t.startswith("{last"))
#: Where a company writes Chinese and Korean names family name first, this is what each of its
#: given-name-first templates becomes for them (``{f}{last}`` gives ``wangwei``, not ``wwang``).
FAMILY_FIRST_FORM = {
    "{first}.{last}": "{last}.{first}",
    "{first}{last}": "{last}{first}",
    "{f}{last}": "{last}{first}",
    "{first}_{last}": "{last}_{first}",
    "{first}": "{last}{first}",
}
#: Prior share of companies writing those names family name first, with its strength: in the
#: reference sample about half of the Chinese names are addressed family name first.
FAMILY_FIRST_PRIOR = 0.45
FAMILY_FIRST_STRENGTH = 2.0

#: The fourteen simple patterns' names, for templates that are one of them.
SIMPLE_NAMES: dict[str, str] = {
    "{first}.{last}": "first.last",
    "{first}{last}": "firstlast",
    "{first}_{last}": "first_last",
    "{f}.{last}": "f.last",
    "{f}{last}": "flast",
    "{first}.{l}": "first.l",
    "{first}": "first",
    "{last}.{first}": "last.first",
    "{first}{l}": "firstl",
    "{f}_{last}": "f_last",
    "{last}{f}": "lastf",
    "{last}": "last",
    "{first}-{last}": "first-last",
    "{last}_{first}": "last_first",
}


# A romanised Chinese (or Korean) given name: one or two pinyin-like syllables.
_SYLLABLE = (
    r"(?:[bpmfdtnlgkhjqxrzcsyw]|zh|ch|sh)?"
    r"(?:iang|iong|uang|ang|eng|ing|ong|ian|iao|uai|uan|ai|ao|an|ei|en|ia|ie|in|iu|ou|ua|ui|un"
    r"|uo|ue|er|a|e|i|o|u|v)"
)
_PINYIN_GIVEN = re.compile(f"^{_SYLLABLE}{_SYLLABLE}?$")


def name_class(parsed: ParsedName) -> str:
    """``east_asian`` for Chinese and Korean names: a common family name beside a given name of
    one or two pinyin-like syllables (so John Lee and Mary Long stay ``default``)."""
    for family, given in ((parsed.last, parsed.first), (parsed.first, parsed.last)):
        if family in EAST_ASIAN_SURNAMES and _PINYIN_GIVEN.match(given):
            return EAST_ASIAN
    return DEFAULT_CLASS


#: Every template's global prior with :data:`OTHER`'s, summing to one.
PRIORS: dict[str, float] = {**TEMPLATE_PRIORS, OTHER: OTHER_PRIOR}


@functools.cache
def _parse_template(template: str) -> tuple[str, int, frozenset[str]]:
    """(format string, cut length or 0, token names) of a template."""
    base, _, cut = template.partition("~")
    tokens = frozenset(_TOKEN_RE.findall(base))
    # str.format cannot take "last." as a field name: rename the joined-surname tokens.
    for sep, name in ((".", "last_dot"), ("_", "last_underscore"), ("-", "last_hyphen")):
        base = base.replace(f"{{last{sep}}}", f"{{{name}}}")
    return base, int(cut or 0), tokens


def render_template(
    template: str, variant: NameVariant, parsed: ParsedName, *, middle: str | None = None
) -> str | None:
    """The local part ``template`` gives for one spelling of the name, or None."""
    base, cut, tokens = _parse_template(template)
    if not variant.first or ("first" in tokens and variant.first_is_initial):
        return None
    last_words = (
        parsed.last_parts if variant.last == parsed.last and parsed.last_parts else (variant.last,)
    )
    needs_last = tokens & {"last", "last.", "last_", "last-", "l"}
    if needs_last and not variant.last:
        return None
    if tokens & {"last", "last.", "last_", "last-"} and variant.last_is_initial:
        return None
    if middle is None:
        middle = parsed.middle[0] if parsed.middle else ""
    if tokens & {"middle", "m"} and not middle:
        return None
    if "middle" in tokens and len(middle) < 2:
        return None
    values = {
        "first": variant.first,
        "f": variant.first[:1],
        "middle": middle,
        "m": middle[:1],
        "last": variant.last,
        "last_dot": ".".join(last_words),
        "last_underscore": "_".join(last_words),
        "last_hyphen": "-".join(last_words),
        "l": variant.last[:1],
    }
    local = base.format_map(values)
    if cut:
        local = local[:cut].rstrip("._-")
    if not local or len(local) > 64:
        return None
    if _HIDDEN not in local and not _LOCAL_RE.match(local):
        return None
    return local


@dataclass(frozen=True)
class Alignment:
    """What one known address says: the templates that build it from its owner's name."""

    templates: tuple[str, ...]
    numbered: bool = False


def align(local: str, parsed: ParsedName) -> Alignment:
    """Every template that renders ``local`` for this person (see the module docstring)."""
    local = local.strip().lower().split("+", 1)[0]
    exact: list[tuple[str, VariantKind]] = []
    numbered: list[tuple[str, VariantKind]] = []
    # A collision number is one digit (john.smith2); "noah18" is an alias, not a collision.
    stem = local[:-1] if local[-1:].isdigit() and not local[-2:-1].isdigit() else local
    hidden = None if parsed.middle else _HIDDEN
    for variant in parsed.variants():
        for template in GRAMMAR:
            rendered = render_template(template, variant, parsed, middle=hidden)
            if rendered is None:
                continue
            if _matches(rendered, local):
                exact.append((template, variant.kind))
            elif stem != local and len(stem) > 1 and _matches(rendered, stem):
                numbered.append((template, variant.kind))
    found, is_numbered = (exact, False) if exact else (numbered, bool(numbered))
    # The plain spelling explains it: readings through a nickname or dropped particle are
    # coincidences far more often than not.
    primary = [t for t, kind in found if kind is VariantKind.PRIMARY]
    names = primary or [t for t, _ in found]
    return Alignment(tuple(sorted(set(names), key=_ORDER.__getitem__)), is_numbered)


def _matches(rendered: str, local: str) -> bool:
    if _HIDDEN not in rendered:
        return rendered == local
    if len(rendered) != len(local):
        return False
    return all(
        r == c or (r == _HIDDEN and c.isalpha()) for r, c in zip(rendered, local, strict=True)
    )


@dataclass(frozen=True)
class TemplateExample:
    """One known address, aligned: its weight, name class and explaining templates."""

    local: str
    weight: float
    klass: str
    alignment: Alignment


@dataclass(frozen=True)
class TemplateModel:
    """A domain's learned templates: evidence per name class, and what collisions do."""

    counts: dict[str, dict[str, float]]
    taken: tuple[str, ...] = ()
    numbered: int = 0
    examples: int = 0
    #: Weight of Chinese/Korean names at the domain written family name first, and not.
    family_first: tuple[float, float] = (0.0, 0.0)

    def family_first_share(self) -> float:
        hits, misses = self.family_first
        pseudo = FAMILY_FIRST_STRENGTH * FAMILY_FIRST_PRIOR
        return (pseudo + hits) / (FAMILY_FIRST_STRENGTH + hits + misses)

    def distribution(self, klass: str) -> dict[str, float]:
        """P(template) for a new person of ``klass`` at this domain, :data:`OTHER` included."""
        alpha = {t: PRIOR_STRENGTH * p for t, p in PRIORS.items()}
        for source, counts in self.counts.items():
            scale = 1.0 if source == klass else CROSS_CLASS_WEIGHT
            for template, weight in counts.items():
                if template in alpha:
                    alpha[template] += scale * weight
        total = sum(alpha.values())
        dist = {t: a / total for t, a in alpha.items()}
        if klass == EAST_ASIAN:
            share = self.family_first_share()
            for given_first, family_first in FAMILY_FIRST_FORM.items():
                moved = dist[given_first] * share
                dist[given_first] -= moved
                dist[family_first] += moved
        return dist

    def to_dict(self) -> dict:
        return {
            "counts": {k: dict(v) for k, v in self.counts.items()},
            "taken": list(self.taken),
            "numbered": self.numbered,
            "examples": self.examples,
            "family_first": list(self.family_first),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> TemplateModel:
        return cls(
            counts={
                str(k): {str(t): float(w) for t, w in v.items()}
                for k, v in data.get("counts", {}).items()
            },
            taken=tuple(str(t) for t in data.get("taken", ())),
            numbered=int(data.get("numbered", 0)),
            examples=int(data.get("examples", 0)),
            family_first=tuple(float(x) for x in data.get("family_first", (0.0, 0.0)))[:2],
        )


EMPTY_MODEL = TemplateModel(counts={})


def learn_templates(examples: Sequence[TemplateExample]) -> TemplateModel:
    """Share each example's weight among its templates by their weight at the domain (EM)."""
    positive = [e for e in examples if e.weight > 0]
    counts: dict[str, dict[str, float]] = {}
    for _ in range(EM_ROUNDS):
        model = TemplateModel(counts=counts)
        dists = {k: model.distribution(k) for k in (DEFAULT_CLASS, EAST_ASIAN)}
        fresh: dict[str, dict[str, float]] = {}
        for example in positive:
            dist = dists[example.klass]
            # An alias could look like a template's rendering by chance: OTHER stays a
            # possible reading of every address, with the chance of that coincidence.
            likelihood = {t: 1.0 for t in example.alignment.templates}
            likelihood[OTHER] = OTHER_LIKELIHOOD if example.alignment.templates else 1.0
            total = sum(dist[t] * lk for t, lk in likelihood.items())
            into = fresh.setdefault(example.klass, {})
            for template, lk in likelihood.items():
                share = example.weight * dist[template] * lk / total
                into[template] = into.get(template, 0.0) + share
        if fresh == counts:
            break
        counts = fresh
    # Bounces: an address that bounced was not this domain's rule for that person.
    for example in examples:
        if example.weight >= 0 or not example.alignment.templates:
            continue
        share = -example.weight / len(example.alignment.templates)
        into = counts.setdefault(example.klass, {})
        for template in example.alignment.templates:
            into[template] = max(0.0, into.get(template, 0.0) - share)
    hits = misses = 0.0
    for example in positive:
        templates = set(example.alignment.templates)
        if example.klass != EAST_ASIAN or not templates:
            continue
        if templates <= _FAMILY_FIRST:
            hits += example.weight
        elif not templates & _FAMILY_FIRST:
            misses += example.weight
    ordered = {
        k: dict(sorted(((t, round(w, 6)) for t, w in v.items() if w > 1e-9), key=_count_key))
        for k, v in sorted(counts.items())
    }
    return TemplateModel(
        counts=ordered,
        taken=tuple(sorted({e.local for e in positive})),
        numbered=sum(1 for e in positive if e.alignment.numbered),
        examples=len(positive),
        family_first=(hits, misses),
    )


def _count_key(item: tuple[str, float]) -> tuple[float, int]:
    return (-item[1], _ORDER.get(item[0], len(_ORDER)))


@dataclass(frozen=True)
class TemplateCandidate:
    local_part: str
    template: str
    probability: float
    variant: VariantKind


def template_candidates(
    parsed: ParsedName,
    model: TemplateModel,
    variants: Iterable[tuple[NameVariant, float]],
) -> list[TemplateCandidate]:
    """Local parts for ``parsed`` at a domain with ``model``, most probable first.

    ``variants`` are the name's spellings with their probabilities (the domain's spelling
    conventions applied). Probabilities sum to less than one: the :data:`OTHER` mass and the
    templates this name cannot fill are out of reach.
    """
    dist = model.distribution(name_class(parsed))
    mass: dict[str, float] = {}
    best: dict[str, tuple[float, int, int, str, VariantKind]] = {}
    for v_index, (variant, v_p) in enumerate(variants):
        for template in GRAMMAR:
            p = dist[template] * v_p
            if p <= 0:
                continue
            local = render_template(template, variant, parsed)
            if local is None:
                continue
            mass[local] = mass.get(local, 0.0) + p
            key = (-p, v_index, _ORDER[template], template, variant.kind)
            if local not in best or key < best[local]:
                best[local] = key
    _resolve_collisions(parsed, model, dist, mass, best)
    out = [
        TemplateCandidate(local, best[local][3], mass[local], best[local][4])
        for local in mass
        if mass[local] > 0
    ]
    out.sort(
        key=lambda c: (
            -round(c.probability, 12),
            c.variant != VariantKind.PRIMARY,
            _ORDER.get(c.template.split("#")[0], 0),
            c.local_part,
        )
    )
    return out


def _resolve_collisions(parsed, model, dist, mass, best) -> None:
    """Move the mass of addresses other known people own to the domain's collision rule."""
    taken = set(model.taken)
    for local in [loc for loc in mass if loc in taken]:
        collided = mass.pop(local)
        _, v_index, order, template, kind = best.pop(local)
        targets: list[tuple[str, str]] = []
        if parsed.middle:
            middle_rule = "{first}.{m}.{last}" if "." in template else "{f}{m}{last}"
            # Only where the domain's own addresses show middle initials.
            if dist.get(middle_rule, 0) > PRIORS[middle_rule] * 1.01:
                rendered = render_template(middle_rule, parsed.primary, parsed)
                if rendered and rendered not in taken:
                    targets.append((rendered, middle_rule))
        number = 2
        while f"{local}{number}" in taken:
            number += 1
        targets.append((f"{local}{number}", f"{template}#"))
        for target, rule in targets:
            mass[target] = mass.get(target, 0.0) + collided / len(targets)
            key = (-collided / len(targets), v_index, order, rule, kind)
            if target not in best or key < best[target]:
                best[target] = key
