"""Template induction and per-person guesses: pure, no database."""

from __future__ import annotations

import pytest

from enrichment.emails.finder import rank_candidates
from enrichment.emails.names import parse_name
from enrichment.emails.patterns import (
    DomainPattern,
    KnownEmail,
    dedupe_examples,
    learn_domain_patterns,
)
from enrichment.emails.templates import (
    DEFAULT_CLASS,
    EAST_ASIAN,
    OTHER,
    align,
    name_class,
    render_template,
)

DOMAIN = "acme.com"


def learned(*pairs: tuple[str, str]) -> DomainPattern:
    """Learn from (written name, local part) pairs at acme.com."""
    return learn_domain_patterns(
        KnownEmail(f"{local}@{DOMAIN}", name, "", source="test") for name, local in pairs
    )


def guesses(name: str, pattern: DomainPattern, n: int = 3) -> list[str]:
    return [c.local_part for c in rank_candidates(parse_name(name), DOMAIN, pattern)[:n]]


# --- alignment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "local", "expected"),
    [
        ("John Smith", "john.smith", "{first}.{last}"),
        ("Christopher Montgomery", "cmontgom", "{f}{last}~8"),
        ("Anna van Dijk", "anna.van.dijk", "{first}.{last.}"),
        ("Wei Wang", "wangwei", "{last}{first}"),
        ("Mary Ann Jones", "maryann.jones", "{first}{middle}.{last}"),
        # A middle initial the written name does not show.
        ("John Smith", "jqsmith", "{f}{m}{last}"),
    ],
)
def test_it_aligns_an_address_with_the_pieces_of_its_owners_name(name, local, expected):
    assert expected in align(local, parse_name(name)).templates


def test_a_number_after_a_rendering_is_that_template_with_a_collision():
    alignment = align("john.smith2", parse_name("John Smith"))
    assert "{first}.{last}" in alignment.templates
    assert alignment.numbered


def test_an_alias_no_rule_builds_is_explained_by_nothing():
    assert align("xk42", parse_name("John Smith")).templates == ()


def test_render_cuts_a_truncating_template_and_joins_surname_words_as_asked():
    parsed = parse_name("Christopher van der Berg")
    assert render_template("{f}{last}~8", parsed.primary, parsed) == "cvanderb"
    assert render_template("{first}.{last.}", parsed.primary, parsed) == "christopher.van.der.berg"
    assert render_template("{f}{m}{last}", parsed.primary, parsed) is None  # no middle known


def test_name_class_finds_chinese_and_korean_names_only():
    assert name_class(parse_name("Wei Wang")) == EAST_ASIAN
    assert name_class(parse_name("Minjun Kim")) == EAST_ASIAN
    assert name_class(parse_name("John Lee")) == DEFAULT_CLASS
    assert name_class(parse_name("Mary Long")) == DEFAULT_CLASS


# --- per-person guesses -------------------------------------------------------------------


def test_one_example_decides_the_next_guess():
    pattern = learned(("Anna Berg", "aberg"))
    assert guesses("Peter Novak", pattern)[0] == "pnovak"


def test_a_mixed_domain_keeps_both_templates_in_the_first_guesses():
    pattern = learned(
        ("Anna Berg", "aberg"),
        ("Peter Novak", "pnovak"),
        ("Maria Costa", "maria.costa"),
    )
    first_three = guesses("Omar Haddad", pattern)
    assert first_three[:2] == ["ohaddad", "omar.haddad"]
    dist = pattern.templates.distribution(DEFAULT_CLASS)
    assert dist["{f}{last}"] > dist["{first}.{last}"] > dist["{first}"]


def test_the_domains_truncation_applies_to_long_names_only():
    pattern = learned(
        ("Christopher Montgomery", "cmontgom"),
        ("Alexandra Richardson", "arichard"),
        ("Anna Berg", "aberg"),
    )
    assert guesses("Bartholomew Fitzgerald", pattern)[0] == "bfitzger"
    assert guesses("Ivan Petrov", pattern)[0] == "ipetrov"


def test_multi_word_surnames_are_joined_the_way_the_domain_joins_them():
    dotted = learned(
        ("Anna van Dijk", "anna.van.dijk"),
        ("Maria de Souza", "maria.de.souza"),
        ("John Smith", "john.smith"),
    )
    assert guesses("Pieter van den Broek", dotted)[0] == "pieter.van.den.broek"
    assert guesses("Omar Haddad", dotted)[0] == "omar.haddad"
    joined = learned(
        ("Anna van Dijk", "anna.vandijk"),
        ("Maria de Souza", "maria.desouza"),
        ("John Smith", "john.smith"),
    )
    assert guesses("Pieter van den Broek", joined)[0] == "pieter.vandenbroek"


def test_family_name_first_is_used_for_the_names_the_domain_writes_so():
    pattern = learned(
        ("Wei Wang", "wangwei"),
        ("Jun Liu", "liujun"),
        ("Anna Berg", "aberg"),
        ("Peter Novak", "pnovak"),
    )
    assert guesses("Ming Chen", pattern)[0] == "chenming"
    assert guesses("Omar Haddad", pattern)[0] == "ohaddad"


def test_an_address_another_person_owns_goes_to_the_domains_collision_rule():
    pattern = learned(
        ("John Smith", "jsmith"),
        ("Anna Berg", "aberg"),
        ("Peter Novak", "pnovak"),
    )
    first_guesses = guesses("Jane Smith", pattern)
    assert "jsmith" not in first_guesses
    assert first_guesses[0] == "jsmith2"


def test_a_collision_uses_the_middle_initial_where_the_domain_writes_them():
    pattern = learned(
        ("John Smith", "jsmith"),
        ("Anna Q. Berg", "aqberg"),
        ("Peter R. Novak", "prnovak"),
        ("Maria Costa", "mcosta"),
    )
    assert guesses("Jane T. Smith", pattern, 2)[0] == "jtsmith"


def test_addresses_nothing_explains_count_as_other_and_lower_the_chance():
    plain = learned(("Anna Berg", "aberg"), ("Peter Novak", "pnovak"))
    noisy = learned(("Anna Berg", "aberg"), ("Peter Novak", "pnovak"), ("Maria Costa", "x7731"))
    assert noisy.templates.counts[DEFAULT_CLASS][OTHER] > 0.9
    best_plain = rank_candidates(parse_name("Omar Haddad"), DOMAIN, plain)[0]
    best_noisy = rank_candidates(parse_name("Omar Haddad"), DOMAIN, noisy)[0]
    assert best_plain.email == best_noisy.email == "ohaddad@acme.com"
    assert best_noisy.probability < best_plain.probability


def test_learning_is_deterministic_and_survives_storage():
    pairs = [("Anna van Dijk", "anna.van.dijk"), ("Christopher Montgomery", "cmontgom")]
    first, second = learned(*pairs), learned(*reversed(pairs))
    assert first.templates == second.templates
    assert DomainPattern.from_dict(first.to_dict()) == first


# --- evidence counted once ----------------------------------------------------------------


def test_the_same_address_counts_once_however_often_it_arrives():
    once = learned(("Anna Berg", "aberg"))
    copies = [KnownEmail("aberg@acme.com", "Anna", "Berg", source="input")] * 3 + [
        KnownEmail("ABerg@Acme.com", "Anna", "Berg", weight=0.8, source="hunter")
    ]
    thrice = learn_domain_patterns(copies)
    assert thrice.templates == once.templates
    assert thrice.distribution == once.distribution
    assert thrice.examples == 1


def test_dedupe_keeps_the_strongest_copy_and_a_bounce_wins():
    stored = KnownEmail("aberg@acme.com", "Anna", "Berg", weight=0.5)
    imported = KnownEmail("aberg@acme.com", "Anna", "Berg", weight=1.0)
    bounced = KnownEmail("aberg@acme.com", "Anna", "Berg", bounced=True)
    assert dedupe_examples([stored, imported]) == [imported]
    assert dedupe_examples([imported, bounced, stored]) == [bounced]


def test_a_longer_number_is_an_alias_not_a_collision():
    alignment = align("noah18", parse_name("Noah Brown"))
    assert alignment.templates == ()
    assert not alignment.numbered
