import json

import pytest

from enrichment.emails.domains import clean_domain
from enrichment.emails.names import parse_name
from enrichment.emails.patterns import (
    BOUNCE_FLOOR,
    PRIOR_STRENGTH,
    DomainPattern,
    KnownEmail,
    explain_example,
    learn_domain_patterns,
    learn_patterns_by_domain,
    prior_pattern,
)
from enrichment.emails.permutations import PATTERN_NAMES, PRIORS, generate_candidates, render

PEOPLE = [
    ("John", "Smith"),
    ("Anna", "Berg"),
    ("Peter", "Novak"),
    ("Maria", "Costa"),
    ("Omar", "Haddad"),
    ("Lena", "Fischer"),
    ("Kenji", "Sato"),
    ("Grace", "Okafor"),
    ("Ivan", "Petrov"),
]


def known(pattern_locals: list[tuple[str, str, str]], **kwargs) -> list[KnownEmail]:
    return [
        KnownEmail(f"{local}@acme.com", first, last, **kwargs)
        for local, first, last in pattern_locals
    ]


def first_last(first: str, last: str) -> str:
    return f"{first}.{last}".lower()


def flast(first: str, last: str) -> str:
    return f"{first[0]}{last}".lower()


def test_it_returns_the_prior_without_evidence():
    learned = learn_domain_patterns([])
    assert learned.distribution == pytest.approx(PRIORS)
    assert learned.top == "first.last"
    assert (learned.support, learned.share, learned.examples) == (0, 0.0, 0)
    assert list(learned.distribution)[:3] == ["first.last", "flast", "first"]
    assert prior_pattern() == learned


def test_one_example_makes_its_pattern_top():
    learned = learn_domain_patterns([KnownEmail("jsmith@acme.com", "John", "Smith")])
    assert learned.top == "flast"
    assert learned.distribution["flast"] == pytest.approx((PRIOR_STRENGTH * 0.12 + 1) / 3)
    assert learned.distribution["first.last"] == pytest.approx(PRIOR_STRENGTH * 0.41 / 3)
    assert (learned.support, learned.share, learned.examples) == (1, 1.0, 1)


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_one_example_of_any_pattern_makes_it_top(pattern):
    local = render(pattern, parse_name("Grace Okafor"))
    learned = learn_domain_patterns([KnownEmail(f"{local}@acme.com", "Grace", "Okafor")])
    assert learned.top == pattern


def test_a_mixed_domain_keeps_both_patterns_with_shares_near_two_to_one():
    examples = known([(first_last(fn, ln), fn, ln) for fn, ln in PEOPLE[:6]])
    examples += known([(flast(fn, ln), fn, ln) for fn, ln in PEOPLE[6:]])
    learned = learn_domain_patterns(examples)
    assert learned.ranked(2) == [
        ("first.last", pytest.approx((0.82 + 6) / 11)),
        ("flast", pytest.approx((0.24 + 3) / 11)),
    ]
    assert learned.distribution["first.last"] / learned.distribution["flast"] == pytest.approx(
        2.1, abs=0.05
    )
    assert (learned.support, learned.examples) == (6, 9)
    assert learned.share == pytest.approx(6 / 9)
    assert learned.counts == {"first.last": 6.0, "flast": 3.0}


def test_conflicting_evidence_leaves_both_patterns_on_top():
    learned = learn_domain_patterns(
        [
            KnownEmail("jsmith@acme.com", "John", "Smith"),
            KnownEmail("anna.berg@acme.com", "Anna", "Berg"),
        ]
    )
    assert learned.ranked(2) == [
        ("first.last", pytest.approx(1.82 / 4)),
        ("flast", pytest.approx(1.24 / 4)),
    ]
    assert learned.share == pytest.approx(0.5)


def test_an_ambiguous_example_splits_its_weight_by_prior():
    learned = learn_domain_patterns([KnownEmail("li@acme.com", "Li", "Li")])
    assert learned.counts == {
        "first": pytest.approx(0.12 / 0.14),
        "last": pytest.approx(0.02 / 0.14),
    }
    assert learned.top == "first"
    assert learned.support == 1


def test_an_unexplained_example_changes_nothing_but_is_counted():
    learned = learn_domain_patterns([KnownEmail("x7@acme.com", "John", "Smith")])
    assert learned.distribution == pytest.approx(PRIORS)
    assert (learned.examples, learned.unexplained) == (0, 1)


def test_an_example_with_a_bad_name_is_unexplained_with_a_reason():
    evidence = explain_example(KnownEmail("john@acme.com", "", ""))
    assert evidence.patterns == ()
    assert evidence.reason.startswith("bad name:")
    assert explain_example(KnownEmail("nonsense", "John", "Smith")).reason == "not an email address"


def test_a_bounce_lowers_the_evidence_for_its_pattern():
    examples = known([(flast(fn, ln), fn, ln) for fn, ln in PEOPLE[:2]])
    bounced = KnownEmail("pnovak@acme.com", "Peter", "Novak", bounced=True)
    before = learn_domain_patterns(examples)
    after = learn_domain_patterns([*examples, bounced])
    assert before.counts == {"flast": 2.0}
    assert after.counts == {"flast": 1.0}
    assert after.bounce_counts == {"flast": 1.0}
    assert after.distribution["flast"] < before.distribution["flast"]
    assert after.bounces == 1


def test_a_negative_weight_counts_as_a_bounce():
    a = learn_domain_patterns([KnownEmail("jsmith@acme.com", "John", "Smith", weight=-1.0)])
    b = learn_domain_patterns([KnownEmail("jsmith@acme.com", "John", "Smith", bounced=True)])
    assert a == b


def test_a_bounce_never_takes_evidence_below_zero_nor_the_prior_below_its_floor():
    bounces = [KnownEmail(f"{flast(fn, ln)}@acme.com", fn, ln, bounced=True) for fn, ln in PEOPLE]
    learned = learn_domain_patterns(bounces)
    assert learned.counts == {}
    alpha_flast = BOUNCE_FLOOR * PRIOR_STRENGTH * 0.12
    total = PRIOR_STRENGTH - PRIOR_STRENGTH * 0.12 + alpha_flast
    assert learned.distribution["flast"] == pytest.approx(alpha_flast / total)
    assert learned.top == "first.last"


def test_the_order_of_examples_does_not_matter():
    examples = [
        KnownEmail("jsmith@acme.com", "John", "Smith", bounced=True),
        *known([(flast(fn, ln), fn, ln) for fn, ln in PEOPLE[1:3]]),
        KnownEmail("maria.costa@acme.com", "Maria", "Costa"),
    ]
    assert learn_domain_patterns(examples) == learn_domain_patterns(reversed(examples))


def test_weights_scale_the_evidence():
    learned = learn_domain_patterns([KnownEmail("jsmith@acme.com", "John", "Smith", weight=0.5)])
    assert learned.counts == {"flast": 0.5}
    assert learned.distribution["flast"] == pytest.approx(0.74 / 2.5)


def test_it_serializes_to_json_and_back():
    examples = known([(first_last(fn, ln), fn, ln) for fn, ln in PEOPLE[:3]])
    examples.append(KnownEmail("ipetrov@acme.com", "Ivan", "Petrov", bounced=True))
    learned = learn_domain_patterns(examples)
    restored = DomainPattern.from_dict(json.loads(json.dumps(learned.to_dict())))
    assert restored == learned
    assert list(restored.distribution) == list(learned.distribution)


def test_it_refuses_a_stored_pattern_from_another_version():
    data = prior_pattern().to_dict() | {"version": 99}
    with pytest.raises(ValueError, match="unsupported DomainPattern version"):
        DomainPattern.from_dict(data)


def test_it_learns_each_domain_separately():
    learned = learn_patterns_by_domain(
        [
            KnownEmail("jsmith@acme.com", "John", "Smith"),
            KnownEmail("anna@Globex.io", "Anna", "Berg"),
        ]
    )
    assert {d: p.top for d, p in learned.items()} == {"acme.com": "flast", "globex.io": "first"}


def test_it_accepts_a_custom_prior():
    learned = learn_domain_patterns([], prior={"first": 1.0})
    assert learned.top == "first"
    assert learned.distribution["first"] == 1.0
    with pytest.raises(ValueError, match="unknown patterns in prior"):
        learn_domain_patterns([], prior={"first.middle": 1.0})


def test_it_learns_a_spelling_convention_from_one_address():
    learned = learn_domain_patterns([KnownEmail("juergen.mueller@acme.de", "Jürgen", "Müller")])
    assert (learned.spelling_hits, learned.spelling_misses) == ({"transliteration": 1.0}, {})
    # Beta prior with mean 0.5 / 1.5 and strength 2: (2/3 + 1) / 3 used → weight 1.25.
    assert learned.variant_weights() == {"transliteration": pytest.approx(1.25)}
    candidates = generate_candidates(parse_name("Jörg Köhler"), "acme.de", ranking=learned)
    assert candidates[0].email == "joerg.koehler@acme.de"


def test_a_primary_spelling_lowers_the_alternative():
    learned = learn_domain_patterns([KnownEmail("jurgen.muller@acme.de", "Jürgen", "Müller")])
    assert learned.spelling_misses == {"transliteration": 1.0}
    assert learned.variant_weights() == {"transliteration": pytest.approx(2 / 7)}


def test_names_without_a_spelling_choice_say_nothing_about_it():
    learned = learn_domain_patterns([KnownEmail("john.smith@acme.de", "John", "Smith")])
    assert (learned.spelling_hits, learned.spelling_misses) == ({}, {})
    assert learned.variant_weights() == {}


def test_it_records_each_spelling_choice_an_address_shows():
    cut = explain_example(KnownEmail("jose.garcia@acme.es", "José", "García-López"))
    assert cut.patterns == ("first.last",)
    # Neither spelling of the other choices fits, so they stay unknown.
    assert cut.spelling == {"surname_first_part": True}
    joined = explain_example(KnownEmail("jose.garcialopez@acme.es", "José", "García-López"))
    assert joined.spelling == {
        "hyphenated": False,
        "surname_first_part": False,
        "surname_last_part": False,
    }


def test_it_serializes_spelling_conventions():
    learned = learn_domain_patterns([KnownEmail("m.sar@acme.nl", "Marco", "van der Sar")])
    assert learned.spelling_hits == {"surname_without_particle": 1.0}
    assert DomainPattern.from_dict(json.loads(json.dumps(learned.to_dict()))) == learned


def test_pattern_keys_match_a_leads_domain_however_it_was_typed():
    learned = learn_patterns_by_domain(
        [
            KnownEmail("jan.mueller@Bücher.DE.", "Jan", "Müller"),
            KnownEmail("eva.schmidt@xn--bcher-kva.de", "Eva", "Schmidt"),
        ]
    )
    assert list(learned) == [clean_domain("https://www.bücher.de/team")]
    assert learned["xn--bcher-kva.de"].support == 2
