import pytest

from enrichment.emails.names import (
    InvalidName,
    VariantKind,
    fold,
    nickname_alternatives,
    nickname_of,
    parse_name,
    parse_name_parts,
)

# (raw name, first, middle, last, last_parts)
PARSES = [
    ("John Smith", "john", (), "smith", ("smith",)),
    ("  john   SMITH ", "john", (), "smith", ("smith",)),
    ("Mary Jane Watson", "mary", ("jane",), "watson", ("watson",)),
    ("J. R. R. Tolkien", "j", ("r", "r"), "tolkien", ("tolkien",)),
    ("J.R. Ewing", "j", ("r",), "ewing", ("ewing",)),
    ("John S.", "john", (), "s", ("s",)),
    ("George W. Bush", "george", ("w",), "bush", ("bush",)),
    ("Smith, John", "john", (), "smith", ("smith",)),
    ("Smith, John Paul", "john", ("paul",), "smith", ("smith",)),
    ("García López, María", "maria", (), "garcialopez", ("garcia", "lopez")),
    ("van der Sar, Edwin", "edwin", (), "vandersar", ("van", "der", "sar")),
    ("Dr. Jane Doe", "jane", (), "doe", ("doe",)),
    ("Prof. Dr. Hans Weber", "hans", (), "weber", ("weber",)),
    ("Mr John Smith Jr.", "john", (), "smith", ("smith",)),
    ("John Smith, Jr.", "john", (), "smith", ("smith",)),
    ("Henry Ford II", "henry", (), "ford", ("ford",)),
    ("Jane Doe PhD", "jane", (), "doe", ("doe",)),
    ("Sir Elton John", "elton", (), "john", ("john",)),
    ("Ms. Ann Lee, MBA", "ann", (), "lee", ("lee",)),
    ("Seán O'Brien", "sean", (), "obrien", ("obrien",)),
    ("Conan O’Brien", "conan", (), "obrien", ("obrien",)),
    ("Luca D'Angelo", "luca", (), "dangelo", ("dangelo",)),
    ("José García-López", "jose", (), "garcialopez", ("garcia", "lopez")),
    ("Jean-Pierre Dupont", "jeanpierre", (), "dupont", ("dupont",)),
    ("Marco van der Sar", "marco", (), "vandersar", ("van", "der", "sar")),
    ("Ludwig van Beethoven", "ludwig", (), "vanbeethoven", ("van", "beethoven")),
    ("Ursula von der Leyen", "ursula", (), "vonderleyen", ("von", "der", "leyen")),
    ("Leonardo da Vinci", "leonardo", (), "davinci", ("da", "vinci")),
    ("Charles de Gaulle", "charles", (), "degaulle", ("de", "gaulle")),
    ("Maria de la Cruz", "maria", (), "delacruz", ("de", "la", "cruz")),
    ("Ahmed bin Rashid", "ahmed", (), "binrashid", ("bin", "rashid")),
    ("Ahmed Al-Hassan", "ahmed", (), "alhassan", ("al", "hassan")),
    ("Eva St. Clair", "eva", (), "stclair", ("st", "clair")),
    ("Al Gore", "al", (), "gore", ("gore",)),
    ("Minh Le", "minh", (), "le", ("le",)),
    ("Jürgen Müller", "jurgen", (), "muller", ("muller",)),
    ("Hans Groß", "hans", (), "gross", ("gross",)),
    ("Søren Kierkegaard", "soren", (), "kierkegaard", ("kierkegaard",)),
    ("Łukasz Żółć", "lukasz", (), "zolc", ("zolc",)),
    ("Ærø Æsir", "aero", (), "aesir", ("aesir",)),
    ("Zoë Saldaña", "zoe", (), "saldana", ("saldana",)),
    ("Дмитрий Иванов", "dmitriy", (), "ivanov", ("ivanov",)),
    ("Юлия Щукина", "yuliya", (), "shchukina", ("shchukina",)),
    ("Γιώργος Παπαδόπουλος", "giorgos", (), "papadopoulos", ("papadopoulos",)),
    ("王伟", "wei", (), "wang", ("wang",)),
    ("张小明", "xiaoming", (), "zhang", ("zhang",)),
    ("欧阳娜娜", "nana", (), "ouyang", ("ouyang",)),
    ("王 伟", "wei", (), "wang", ("wang",)),
    ("김민준", "minjun", (), "kim", ("kim",)),
    ("たなか たろう", "taro", (), "tanaka", ("tanaka",)),
    ("Nguyễn Văn Hùng", "hung", ("van",), "nguyen", ("nguyen",)),
    ("Madonna", "madonna", (), "", ()),
    ('William "Bill" Gates', "william", (), "gates", ("gates",)),
]


@pytest.mark.parametrize(("raw", "first", "middle", "last", "last_parts"), PARSES)
def test_it_parses_names_into_ascii_tokens(raw, first, middle, last, last_parts):
    parsed = parse_name(raw)
    assert (parsed.first, parsed.middle, parsed.last, parsed.last_parts) == (
        first,
        middle,
        last,
        last_parts,
    )
    assert parsed.original == raw


@pytest.mark.parametrize(
    ("raw", "honorific", "suffix"),
    [
        ("Dr. Jane Doe", "Dr", ""),
        ("Prof. Dr. Hans Weber", "Prof Dr", ""),
        ("Mr John Smith Jr.", "Mr", "Jr"),
        ("John Smith, Jr.", "", "Jr"),
        ("Smith, John, Dr.", "Dr", ""),
        ("Jane Doe PhD MBA", "", "PhD MBA"),
        ("Sr. Juan Pérez", "Sr", ""),
        ("Juan Pérez Sr.", "", "Sr"),
        ("Henry Ford III", "", "III"),
        ("Alan Shore, Esq.", "", "Esq"),
    ],
)
def test_it_keeps_honorifics_and_suffixes_apart(raw, honorific, suffix):
    parsed = parse_name(raw)
    assert (parsed.honorific, parsed.suffix) == (honorific, suffix)


@pytest.mark.parametrize(
    ("raw", "first_variants", "last_variants"),
    [
        ("Jürgen Müller", ("jurgen", "juergen"), ("muller", "mueller")),
        ("Søren Åberg", ("soren", "soeren"), ("aberg", "aaberg")),
        ("José García-López", ("jose",), ("garcialopez", "garcia", "lopez", "garcia-lopez")),
        ("Marco van der Sar", ("marco",), ("vandersar", "sar")),
        ("Jean-Pierre Dupont", ("jeanpierre", "jean", "jean-pierre"), ("dupont",)),
        ("Дмитрий Иванов", ("dmitriy", "dmitry"), ("ivanov",)),
        ("김민준", ("minjun",), ("kim", "gim")),
        ("Ahmed Al-Hassan", ("ahmed",), ("alhassan", "hassan", "al-hassan")),
    ],
)
def test_it_offers_spelling_variants_primary_first(raw, first_variants, last_variants):
    parsed = parse_name(raw)
    assert parsed.first_variants == first_variants
    assert parsed.last_variants == last_variants


def test_it_tags_each_alternative_with_its_kind():
    parsed = parse_name("José García-López")
    assert [(v.first, v.last, v.kind) for v in parsed.alternatives] == [
        ("jose", "garcia", VariantKind.SURNAME_FIRST_PART),
        ("jose", "lopez", VariantKind.SURNAME_LAST_PART),
        ("jose", "garcia-lopez", VariantKind.HYPHENATED),
    ]


def test_it_applies_transliteration_to_both_names_at_once():
    parsed = parse_name("Jürgen Müller")
    transliterated = [v for v in parsed.alternatives if v.kind is VariantKind.TRANSLITERATION]
    assert [(v.first, v.last) for v in transliterated] == [("juergen", "mueller")]


def test_it_marks_initials():
    assert parse_name("J. Smith").first_is_initial is True
    assert parse_name("John S.").last_is_initial is True
    assert parse_name("Jo Smith").first_is_initial is False


def test_it_does_not_treat_a_transliterated_one_letter_surname_as_an_initial():
    assert parse_name("오 민준").last == "oh"
    assert parse_name("오 민준").last_is_initial is False


def test_it_lists_nicknames_both_ways():
    assert parse_name("William Smith").nicknames == ("bill", "will", "billy", "willy", "liam")
    assert parse_name("Bill Smith").nicknames == ("william",)
    assert nickname_of("kate") == ("catherine", "katherine", "kathleen")
    assert nickname_alternatives("Mike") == ("michael",)


def test_it_puts_a_stated_nickname_first():
    parsed = parse_name('Robert "Bobby" Kennedy')
    assert parsed.nicknames[0] == "bobby"
    assert parsed.alternatives[0].kind is VariantKind.STATED_NICKNAME
    assert parsed.alternatives[0].first == "bobby"


def test_it_drops_a_parenthesised_remark_that_is_not_a_nickname():
    parsed = parse_name("Jane Doe (Acme Sales)")
    assert (parsed.first, parsed.last, parsed.nicknames) == ("jane", "doe", ())


def test_it_parses_separate_columns():
    parsed = parse_name_parts("Dr. María José", "García López")
    assert (parsed.first, parsed.middle, parsed.last, parsed.honorific) == (
        "maria",
        ("jose",),
        "garcialopez",
        "Dr",
    )
    assert parse_name_parts("Edwin", "van der Sar").last == "vandersar"
    assert parse_name_parts("John", "Smith Jr.").suffix == "Jr"


def test_it_parses_cjk_columns_without_swapping_them():
    parsed = parse_name_parts("伟", "王")
    assert (parsed.first, parsed.last) == ("wei", "wang")


def test_it_reads_a_full_name_given_only_in_the_first_column():
    parsed = parse_name_parts("John Smith", "")
    assert (parsed.first, parsed.last) == ("john", "smith")


def test_it_folds_tokens():
    assert fold("O'Brien") == "obrien"
    assert fold("Ñúñez") == "nunez"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "name is empty"),
        ("   ", "name is empty"),
        ("Dr.", "no name left"),
        ("Mr. Mrs.", "no name left"),
        ("John Smith 2", "contains digits"),
        ("R2D2", "contains digits"),
        ("john@acme.com", "looks like an email address"),
        ("John & Jane", "unexpected character"),
        ("J.", "only initials"),
        ("J. S.", "only initials"),
        ("Smith, John, Acme, Inc", "too many comma-separated parts"),
        ("Smith,", "empty part before or after a comma"),
        (", John", "empty part before or after a comma"),
    ],
)
def test_it_rejects_what_is_not_a_name(raw, message):
    with pytest.raises(InvalidName, match=message):
        parse_name(raw)


def test_it_rejects_non_text():
    with pytest.raises(InvalidName, match="must be text"):
        parse_name(None)  # type: ignore[arg-type]


def test_invalid_name_is_a_value_error():
    assert issubclass(InvalidName, ValueError)


def test_it_rejects_an_empty_first_column():
    with pytest.raises(InvalidName, match="first name is empty"):
        parse_name_parts("", "Smith")
