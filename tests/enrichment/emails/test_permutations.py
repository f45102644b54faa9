import pytest

from enrichment.emails.names import VariantKind, parse_name
from enrichment.emails.permutations import (
    PATTERN_NAMES,
    PATTERNS,
    PRIORS,
    detect_pattern,
    explain_local_part,
    generate_candidates,
    render,
    variant_probabilities,
)


def test_it_lists_the_seeds_eight_patterns_first_in_order():
    assert PATTERN_NAMES[:8] == (
        "first.last",
        "firstlast",
        "first_last",
        "f.last",
        "flast",
        "first.l",
        "first",
        "last.first",
    )
    assert set(PATTERN_NAMES[8:]) == {
        "firstl",
        "f_last",
        "lastf",
        "last",
        "first-last",
        "last_first",
    }


def test_its_priors_sum_to_one():
    assert sum(p.prior for p in PATTERNS) == pytest.approx(1.0, abs=1e-12)
    assert PRIORS["first.last"] == 0.41
    assert max(PRIORS, key=PRIORS.__getitem__) == "first.last"


@pytest.mark.parametrize(
    ("pattern", "local"),
    [
        ("first.last", "john.smith"),
        ("firstlast", "johnsmith"),
        ("first_last", "john_smith"),
        ("f.last", "j.smith"),
        ("flast", "jsmith"),
        ("first.l", "john.s"),
        ("first", "john"),
        ("last.first", "smith.john"),
        ("firstl", "johns"),
        ("f_last", "j_smith"),
        ("lastf", "smithj"),
        ("last", "smith"),
        ("first-last", "john-smith"),
        ("last_first", "smith_john"),
    ],
)
def test_it_renders_every_pattern(pattern, local):
    assert render(pattern, parse_name("John Smith")) == local


@pytest.mark.parametrize("pattern", PATTERN_NAMES)
def test_detect_pattern_round_trips_every_pattern(pattern):
    parsed = parse_name("Katherine Zeta-Jones")
    local = render(pattern, parsed)
    assert local is not None
    assert detect_pattern(local, parsed) == [pattern]


def test_it_refuses_an_unknown_pattern():
    with pytest.raises(ValueError, match="unknown email pattern"):
        render("first.middle.last", parse_name("John Smith"))


def test_it_does_not_render_full_name_patterns_from_an_initial():
    parsed = parse_name("J. Smith")
    assert render("first.last", parsed) is None
    assert render("first", parsed) is None
    assert render("flast", parsed) == "jsmith"


def test_it_orders_candidates_by_prior_without_evidence():
    candidates = generate_candidates(parse_name("John Smith"), "Acme.com")
    assert [c.email for c in candidates[:5]] == [
        "john.smith@acme.com",
        "jsmith@acme.com",
        "john@acme.com",
        "johnsmith@acme.com",
        "j.smith@acme.com",
    ]
    assert candidates[0].pattern == "first.last"
    assert candidates[0].prior == 0.41
    # Only the nicknames (jack, johnny) share the mass with the primary spelling.
    assert candidates[0].probability == pytest.approx(0.41 / 1.1)


def test_it_follows_a_learned_ranking():
    ranking = {name: 0.01 for name in PATTERN_NAMES} | {"flast": 0.87}
    candidates = generate_candidates(parse_name("Anna Smith"), "acme.com", ranking=ranking)
    assert candidates[0].email == "asmith@acme.com"
    assert candidates[0].probability == pytest.approx(0.87)


def test_it_drops_patterns_missing_from_a_ranking():
    candidates = generate_candidates(
        parse_name("Anna Smith"), "acme.com", ranking={"first": 3.0, "last": 1.0}
    )
    assert [(c.email, c.probability) for c in candidates] == [
        ("anna@acme.com", 0.75),
        ("smith@acme.com", 0.25),
    ]


def test_it_gives_one_candidate_for_a_first_name_only():
    candidates = generate_candidates(parse_name("Madonna"), "acme.com")
    assert [(c.email, c.pattern) for c in candidates] == [("madonna@acme.com", "first")]
    assert candidates[0].probability == pytest.approx(0.12)


def test_it_never_repeats_an_address():
    for name in ("Li Li", "John S.", "Jo Jo", "Madonna", "Ann Lee"):
        emails = [c.email for c in generate_candidates(parse_name(name), "acme.com")]
        assert len(emails) == len(set(emails)), name


def test_it_merges_patterns_that_give_the_same_address():
    candidates = {c.local_part: c for c in generate_candidates(parse_name("Li Li"), "x.io")}
    assert candidates["li.li"].patterns == ("first.last", "last.first")
    assert candidates["li.li"].probability == pytest.approx(0.44)
    assert candidates["li"].patterns == ("first", "last")


def test_it_only_uses_the_initial_of_a_one_letter_last_name():
    locals_ = [c.local_part for c in generate_candidates(parse_name("John S."), "acme.com")]
    assert locals_[:3] == ["john", "john.s", "johns"]
    assert "john.s" in locals_ and "s.john" not in locals_


def test_it_adds_alternative_spellings_at_reduced_probability():
    candidates = {
        c.local_part: c for c in generate_candidates(parse_name("José García-López"), "a.es")
    }
    assert candidates["jose.garcialopez"].variant is VariantKind.PRIMARY
    assert candidates["jose.garcia"].variant is VariantKind.SURNAME_FIRST_PART
    assert candidates["jose.garcia"].probability == pytest.approx(
        candidates["jose.garcialopez"].probability * 0.35
    )
    assert "jose.garcia-lopez" in candidates


def test_it_can_leave_alternatives_out():
    candidates = generate_candidates(
        parse_name("William Smith"), "acme.com", include_alternatives=False
    )
    assert len(candidates) == len(PATTERN_NAMES)
    assert not any(c.local_part.startswith("bill") for c in candidates)


def test_variant_probabilities_share_a_kinds_weight():
    probabilities = dict(
        (v.first, p) for v, p in variant_probabilities(parse_name("William Smith"))
    )
    assert probabilities["william"] == pytest.approx(1 / 1.1)
    assert probabilities["bill"] == pytest.approx(0.02 / 1.1)


def test_it_rejects_a_bad_domain():
    with pytest.raises(ValueError, match="not a domain"):
        generate_candidates(parse_name("John Smith"), "john@acme.com")


def test_detect_pattern_lowercases_and_ignores_a_subaddress():
    assert detect_pattern("John.Smith+news", parse_name("John Smith")) == ["first.last"]


def test_detect_pattern_returns_every_matching_pattern():
    assert detect_pattern("li", parse_name("Li Li")) == ["first", "last"]


def test_detect_pattern_reads_alternative_spellings():
    assert detect_pattern("marco.sar", parse_name("Marco van der Sar")) == ["first.last"]
    assert detect_pattern("bill.gates", parse_name("William Gates")) == ["first.last"]
    assert detect_pattern("jmueller", parse_name("Jürgen Müller")) == ["flast"]


def test_detect_pattern_prefers_the_primary_reading():
    parsed = parse_name("Tom Thomas")
    # Through the nickname table Tom is also "thomas", which would make this "first" too.
    assert explain_local_part("thomas", parsed) == [
        ("last", VariantKind.PRIMARY),
        ("first", VariantKind.NICKNAME),
        ("last", VariantKind.NICKNAME),
    ]
    assert detect_pattern("thomas", parsed) == ["last"]


def test_detect_pattern_returns_nothing_for_an_unrelated_address():
    assert detect_pattern("sales", parse_name("John Smith")) == []


def test_learned_spelling_weights_override_the_global_ones():
    parsed = parse_name("Jürgen Müller")
    candidates = generate_candidates(parsed, "acme.de", variant_weights={"transliteration": 3.0})
    assert candidates[0].email == "juergen.mueller@acme.de"
    assert candidates[0].probability == pytest.approx(0.41 * 3 / 4)
