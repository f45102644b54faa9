"""How often is the finder's guess of a new person's work address right, on realistic data?

A benchmark, not a test. It builds a corpus of invented people at invented company domains
whose addresses follow the shapes and shares of real ones (``EMAIL-PATTERNS.md`` in the shared
reference: about a third of addresses fit no simple pattern, most domains mix patterns, 8- (7-,
6-) character truncation, middle initials the written name does not show, number suffixes,
multi-word surnames, family-name-first Chinese names, aliases). Names come from Faker's locales
(and a short list of multi-word surnames), written as people write them (one "Name" column, sometimes "Last, First",
accents, particles). The generator folds names to ASCII itself and never calls the finder's
parser or patterns, so the finder is measured on what it did not produce.

For 1, 3 and 10 known addresses per domain it asks the finder for every other person's address
and prints top-1 and top-3 beside three figures computed in the same run: always ``first.last``,
the most common of the fourteen simple patterns among the known addresses, and each domain's best
single simple pattern chosen knowing every address there (an upper bound for any finder that
uses one pattern per domain). ``--calibration`` prints the confidence table: how often a guess
scored in each band was right; ``--fit`` fits the table in ``enrichment/emails/calibration.py``
(on another seed than the one that checks it). Seeded: every run prints the same figures.

    .venv/bin/python bench/pattern_accuracy.py [--domains 600] [--seed 7] [--calibration] [--fit]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from faker import Faker  # noqa: E402

from enrichment.emails.calibration import fit  # noqa: E402
from enrichment.emails.finder import guess_score, rank_candidates  # noqa: E402
from enrichment.emails.names import InvalidName, ParsedName, parse_name  # noqa: E402
from enrichment.emails.patterns import KnownEmail, learn_domain_patterns  # noqa: E402
from enrichment.emails.permutations import PRIORS, detect_pattern, render  # noqa: E402

KNOWN_COUNTS = (1, 3, 10)
PEOPLE_PER_DOMAIN = (14, 40)

# Name sources: Faker locales, by how often a company is based there, and the share of its
# people named from elsewhere (colleagues from India, China, the US).
HOME_LOCALES = {
    "en_US": 30, "en_GB": 8, "de_DE": 12, "fr_FR": 8, "nl_NL": 6, "es_ES": 6, "it_IT": 5,
    "pl_PL": 4, "pt_BR": 4, "sv_SE": 3, "en_IN": 6, "zh_CN": 4,
}  # fmt: skip
FOREIGN_SHARE = 0.25
FOREIGN_LOCALES = {"en_US": 3, "en_IN": 3, "zh_CN": 1.5, "de_DE": 1, "fr_FR": 1, "es_ES": 1}

# The domain's main simple pattern. Shares follow the reference sample's people, renormalised
# over the simple patterns (flast 28 %, first.last 26 %, firstl 5.5 %, first 4.3 %...).
MAIN_PATTERNS = {
    "{f}{last}": 34, "{first}.{last}": 32, "{first}{l}": 6, "{first}": 5, "{first}{last}": 3,
    "{last}": 2, "{last}.{first}": 2, "{last}{f}": 2, "{f}.{last}": 2, "{first}_{last}": 2,
    "{first}-{last}": 1,
}  # fmt: skip
SECOND_PATTERNS = {"{f}{last}": 4, "{first}.{last}": 4, "{first}{l}": 2, "{first}": 2,
                   "{first}{last}": 1, "{last}": 1}  # fmt: skip
LONG_ALIAS_SHARE = (0.0, 0.24)  # per-domain share of aliases with a name part (mean 12 %)
UNRELATED_SHARE = (0.0, 0.14)  # per-domain share of login ids unrelated to the name (7 %)
TRUNCATING_DOMAINS = 0.3  # legacy mail systems that cut the local part...
TRUNCATE_TO = {8: 6, 7: 1, 6: 1}  # ...to this many characters
MIDDLE_INITIAL_DOMAINS = 0.10  # {f}{m}{last} or {first}.{m}.{last} for people with a middle name
HIDDEN_MIDDLE_SHARE = 0.45  # people with a middle name the written name does not show
SHOWN_MIDDLE_SHARE = 0.04  # people who write a middle name or initial
DOUBLE_GIVEN_SHARE = 0.02  # "Mary Ann Smith": both given names in the address
CHINESE_FAMILY_FIRST = 0.55  # domains that write Chinese names family name first
DOTTED_SURNAME = 0.6  # first.last domains joining a multi-word surname with "."
UMLAUT_AE = 0.4  # German domains writing ä as "ae"
LAST_FIRST_WRITTEN = 0.08  # names written "Last, First"
CHINESE_WRITTEN_FAMILY_FIRST = 0.2  # Chinese names written "Zhang Wei"
SHARED_SURNAME = 0.12  # people who share a colleague's surname (families, common names)
# Multi-word surnames added on top of Faker's (which has Dutch particles already).
MULTI_WORD_SURNAMES = [
    "van der Berg", "de la Cruz", "da Silva", "dos Santos", "García López", "von Weber",
    "de Vries", "Le Roux", "Di Stefano", "van den Broek", "Fernández Ruiz", "del Valle",
]  # fmt: skip
MULTI_WORD_SHARE = 0.01


@dataclass(frozen=True)
class Person:
    written: str  # the name as the person writes it in the "Name" column
    email: str
    shape: str  # how the generator built the address (for the shape table)


@dataclass(frozen=True)
class Domain:
    name: str
    people: tuple[Person, ...]


# --- folding, as a mail admin does it (independent of the finder's parser) ----------------

_SPECIAL = {"ß": "ss", "ø": "o", "ł": "l", "æ": "ae", "œ": "oe", "đ": "d", "ı": "i", "þ": "th"}
_UMLAUT_AE = {"ä": "ae", "ö": "oe", "ü": "ue"}


def fold(text: str, *, ae: bool = False) -> str:
    text = text.lower()
    if ae:
        text = "".join(_UMLAUT_AE.get(ch, ch) for ch in text)
    text = "".join(_SPECIAL.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if "a" <= ch <= "z")


def _pick(rng: random.Random, weights: dict) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class NameSource:
    """Invented people from Faker locales; romanised names for Chinese."""

    def __init__(self, seed: int) -> None:
        self.fakers: dict[str, Faker] = {}
        self.seed = seed

    def faker(self, locale: str) -> Faker:
        if locale not in self.fakers:
            faker = Faker(locale)
            faker.seed_instance(self.seed + len(self.fakers))
            self.fakers[locale] = faker
        return self.fakers[locale]

    def person(self, rng: random.Random, locale: str) -> tuple[list[str], list[str]]:
        """(given names, surname words)."""
        faker = self.faker(locale)
        if locale == "zh_CN":
            given = [faker.first_romanized_name()]
            surname = [faker.last_romanized_name()]
        else:
            given = [faker.first_name().split()[0]]
            surname = faker.last_name().split()
            if len(surname) == 1 and rng.random() < MULTI_WORD_SHARE:
                surname = rng.choice(MULTI_WORD_SURNAMES).split()
        return given, surname


def _render(
    template: str, given: list[str], middle: str, surname: list[str], ae: bool, sep_join: str
) -> str:
    first = fold(given[0], ae=ae)
    words = [fold(w, ae=ae) for w in surname]
    last = sep_join.join(w for w in words if w)
    return template.format(
        first=first,
        f=first[:1],
        last=last,
        l=last[:1],
        m=fold(middle)[:1],
        middle=fold(middle),
    )


def make_domain(rng: random.Random, names: NameSource, index: int) -> Domain:
    home = _pick(rng, HOME_LOCALES)
    main = _pick(rng, MAIN_PATTERNS)
    second = None
    second_share = 0.0
    if rng.random() < 0.65:
        second = _pick(rng, {k: v for k, v in SECOND_PATTERNS.items() if k != main})
        second_share = rng.uniform(0.05, 0.4)
    alias_share = rng.uniform(*LONG_ALIAS_SHARE)
    unrelated_share = rng.uniform(*UNRELATED_SHARE)
    truncate = _pick(rng, TRUNCATE_TO) if rng.random() < TRUNCATING_DOMAINS else None
    middle_rule = None
    if rng.random() < MIDDLE_INITIAL_DOMAINS:
        middle_rule = (
            "{f}{m}{last}" if "{f}" in main or rng.random() < 0.5 else "{first}.{m}.{last}"
        )
    chinese_first = rng.random() < CHINESE_FAMILY_FIRST
    ae = home == "de_DE" and rng.random() < UMLAUT_AE
    dotted = "." in main and rng.random() < DOTTED_SURNAME
    size = rng.randint(*PEOPLE_PER_DOMAIN)
    domain = f"company{index:04d}.example"

    people: list[Person] = []
    taken: set[str] = set()
    surnames_seen: list[list[str]] = []
    while len(people) < size:
        locale = _pick(rng, FOREIGN_LOCALES) if rng.random() < FOREIGN_SHARE else home
        given, surname = names.person(rng, locale)
        if surnames_seen and rng.random() < SHARED_SURNAME:
            surname = rng.choice(surnames_seen)
        surnames_seen.append(surname)
        chinese = locale == "zh_CN"
        middle = ""
        middle_shown = False
        if not chinese and rng.random() < HIDDEN_MIDDLE_SHARE + SHOWN_MIDDLE_SHARE:
            middle = names.faker("en_US").first_name()
            middle_shown = rng.random() < SHOWN_MIDDLE_SHARE / (
                HIDDEN_MIDDLE_SHARE + SHOWN_MIDDLE_SHARE
            )
        double_given = not chinese and rng.random() < DOUBLE_GIVEN_SHARE
        if double_given:
            middle = names.faker(locale).first_name().split()[0]
            middle_shown = True

        template = second if second and rng.random() < second_share else main
        shape = template
        if chinese and chinese_first and template in ("{first}{last}", "{f}{last}", "{first}"):
            template, shape = "{last}{first}", "{last}{first} (Chinese)"
        elif chinese and chinese_first and template == "{first}.{last}":
            template, shape = "{last}.{first}", "{last}.{first} (Chinese)"
        if middle_rule and middle and not double_given:
            template, shape = middle_rule, middle_rule + " (middle initial)"
        if double_given and "{first}" in template and "{last}" in template:
            template = template.replace("{first}", "{first}{middle}")
            shape = "two given names"
        sep_join = "." if dotted and len(surname) > 1 else ""
        local = _render(template, given, middle, surname, ae, sep_join)
        if len(surname) > 1:
            shape = f"multi-word surname joined with {sep_join!r}"
        if (
            truncate
            and template in ("{f}{last}", "{first}{last}", "{f}{m}{last}")
            and len(local) > truncate
        ):
            local, shape = local[:truncate], f"truncated to {truncate}"

        roll = rng.random()
        if roll < unrelated_share:
            local = rng.choice("abcdefghjkmnprstuvwxz") + str(rng.randint(10000, 999999))
            shape = "unrelated (login id)"
        elif roll < unrelated_share + alias_share:
            local, shape = _alias(rng, given, surname, middle), "alias with a name part"
        if not local:
            continue
        if local in taken:
            # The company's collision rule: the next number.
            number = 2
            while f"{local}{number}" in taken:
                number += 1
            local, shape = f"{local}{number}", "number suffix (collision)"
        taken.add(local)

        written = _write(rng, given, middle if middle_shown else "", surname, chinese)
        people.append(Person(written, f"{local}@{domain}", shape))
    return Domain(domain, tuple(people))


def _alias(rng: random.Random, given: list[str], surname: list[str], middle: str) -> str:
    first, last = fold(given[0]), fold("".join(surname))
    forms = [
        first[:3] + last[:3], first[:4], last[:5] + first[:1], first + last[:2],
        first[:1] + (fold(middle)[:1] or "x") + last[:1], first[:2] + last, last + first[:2],
        first + str(rng.randint(1, 99)), last + str(rng.randint(1, 99)), first[: len(first) - 1],
    ]  # fmt: skip
    return rng.choice([f for f in forms if f])


def _write(
    rng: random.Random, given: list[str], middle: str, surname: list[str], chinese: bool
) -> str:
    given_text = " ".join(given + ([middle] if middle else []))
    if middle and rng.random() < 0.5 and len(middle) > 1 and middle not in given:
        given_text = " ".join(given + [middle[0] + "."])
    last_text = " ".join(surname)
    if chinese and rng.random() < CHINESE_WRITTEN_FAMILY_FIRST:
        return f"{last_text} {given_text}"
    if rng.random() < LAST_FIRST_WRITTEN:
        return f"{last_text}, {given_text}"
    return f"{given_text} {last_text}"


def make_corpus(domains: int, seed: int) -> list[Domain]:
    rng = random.Random(seed)
    names = NameSource(seed)
    return [make_domain(rng, names, index) for index in range(domains)]


# --- evaluation ---------------------------------------------------------------------------


def _parse(person: Person) -> ParsedName | None:
    try:
        return parse_name(person.written)
    except InvalidName:
        return None


def _simple_patterns(local: str, parsed: ParsedName | None) -> list[str]:
    return detect_pattern(local, parsed) if parsed else []


def _majority(patterns: Sequence[list[str]]) -> str:
    votes: Counter[str] = Counter()
    for fitting in patterns:
        for name in fitting:
            votes[name] += 1 / len(fitting)
    if not votes:
        return "first.last"
    return max(votes, key=lambda n: (votes[n], PRIORS[n]))


@dataclass
class Tally:
    n: int = 0
    top1: int = 0
    top3: int = 0
    first_last: int = 0
    majority: int = 0
    best_single: int = 0


def evaluate(
    corpus: list[Domain],
    k: int,
    seed: int,
    on_guess: Callable[[float, int, bool], None] | None = None,
) -> Tally:
    rng = random.Random(seed * 1000 + k)
    tally = Tally()
    for domain in corpus:
        people = list(domain.people)
        rng.shuffle(people)
        parsed = [_parse(p) for p in people]
        locals_ = [p.email.partition("@")[0] for p in people]
        fits = [_simple_patterns(local, name) for local, name in zip(locals_, parsed, strict=True)]
        oracle = _majority(fits)  # knowing every address at the domain
        known = [
            KnownEmail(p.email, p.written, "", source="bench")
            for p, name in zip(people[:k], parsed[:k], strict=True)
            if name is not None
        ]
        learned = learn_domain_patterns(known)
        majority = _majority(fits[:k])
        for person, name, local in zip(people[k:], parsed[k:], locals_[k:], strict=True):
            tally.n += 1
            if name is None:
                continue
            tally.first_last += render("first.last", name) == local
            tally.majority += render(majority, name) == local
            tally.best_single += render(oracle, name) == local
            ranked = rank_candidates(name, domain.name, learned)
            emails = [c.email for c in ranked]
            right = emails[:1] == [person.email]
            tally.top1 += right
            tally.top3 += person.email in emails[:3]
            if on_guess is not None and ranked:
                on_guess(ranked[0].probability, guess_score(ranked[0], learned), right)
    return tally


def print_shapes(corpus: list[Domain]) -> None:
    shapes = Counter(p.shape for d in corpus for p in d.people)
    total = sum(shapes.values())
    print(f"corpus: {len(corpus)} domains, {total} people; address shapes:")
    for shape, count in shapes.most_common():
        print(f"  {count / total:6.1%}  {shape}")
    print()


def run(domains: int, seed: int, calibration: bool, fitting: bool) -> None:
    flags = (" --calibration" if calibration else "") + (" --fit" if fitting else "")
    print(f"$ .venv/bin/python bench/pattern_accuracy.py --domains {domains} --seed {seed}{flags}")
    started = time.perf_counter()
    corpus = make_corpus(domains, seed)
    print_shapes(corpus)
    header = (
        f"{'known':>5}  {'guesses':>7}  {'first.last':>10}  {'majority of known':>17}  "
        f"{'best single (oracle)':>20}  {'top-1':>6}  {'top-3':>6}"
    )
    print(header)
    print("-" * len(header))
    bands: dict[int, list[int]] = {}
    pairs: list[tuple[float, bool]] = []

    def record(probability: float, score: int, right: bool) -> None:
        band = bands.setdefault(min(score // 10, 9), [0, 0])
        band[0] += 1
        band[1] += right
        pairs.append((probability, right))

    for k in KNOWN_COUNTS:
        t = evaluate(corpus, k, seed, on_guess=record if calibration or fitting else None)
        print(
            f"{k:>5}  {t.n:>7}  {t.first_last / t.n:>10.1%}  {t.majority / t.n:>17.1%}  "
            f"{t.best_single / t.n:>20.1%}  {t.top1 / t.n:>6.1%}  {t.top3 / t.n:>6.1%}"
        )
    print(
        "\nfirst.last: always first.last. majority of known: the most common of the fourteen "
        "simple patterns\namong the known addresses. best single: each domain's most common "
        "simple pattern knowing every\naddress there. top-1/top-3: the finder's first / first "
        "three candidates (address right, exactly)."
    )
    if calibration:
        print(
            "\nconfidence of the first guess (no SMTP, MX present) against how often it was right:"
        )
        print(f"{'score':>7}  {'guesses':>7}  {'right':>6}")
        for band in sorted(bands):
            n, right = bands[band]
            print(f"{band * 10:>3}-{band * 10 + 9:<3}  {n:>7}  {right / n:>6.1%}")
    if fitting:
        print("\nCALIBRATION for enrichment/emails/calibration.py:")
        print(fit(pairs))
    print(f"\n{time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=600)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--calibration", action="store_true", help="print the confidence table")
    parser.add_argument(
        "--fit", action="store_true", help="fit the calibration table on this corpus and print it"
    )
    args = parser.parse_args()
    run(args.domains, args.seed, args.calibration, args.fit)


if __name__ == "__main__":
    main()
