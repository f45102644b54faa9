import pytest

from enrichment.csvio import CsvError, infer_mapping, parse_csv, parse_mapping_override, write_csv


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["First Name", "Last Name", "Company", "Website"],
            {
                "first_name": "First Name",
                "last_name": "Last Name",
                "company_name": "Company",
                "domain": "Website",
            },
        ),
        (
            ["name", "Work Email", "Job Title", "LinkedIn URL"],
            {
                "full_name": "name",
                "email": "Work Email",
                "title": "Job Title",
                "linkedin_url": "LinkedIn URL",
            },
        ),
        (
            ["first_name", "surname", "company_domain", "E-mail"],
            {
                "first_name": "first_name",
                "last_name": "surname",
                "domain": "company_domain",
                "email": "E-mail",
            },
        ),
        (["Notes", "Owner"], {}),
    ],
)
def test_it_maps_common_headers_to_canonical_fields(headers, expected):
    assert infer_mapping(headers) == expected


def test_it_reads_utf8_with_bom_and_semicolons():
    raw = "\ufefffirst name;last name;domain\nJosé;García;acme.com\n".encode()
    table = parse_csv(raw)
    assert table.headers == ["first name", "last name", "domain"]
    assert table.rows == [{"first name": "José", "last name": "García", "domain": "acme.com"}]


def test_it_falls_back_to_windows_1252():
    table = parse_csv("name,domain\nRen\xe9 Dupont,acme.fr\n".encode("cp1252"))
    assert table.rows[0]["name"] == "René Dupont"


def test_it_pads_short_rows_and_skips_blank_lines():
    table = parse_csv(b"a,b,c\n1,2\n\n4,5,6\n")
    assert table.rows == [{"a": "1", "b": "2", "c": ""}, {"a": "4", "b": "5", "c": "6"}]


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"", "empty"), (b"a,a\n1,2\n", "duplicate column"), (b"a,b\n1,2,3\n", "line 2")],
)
def test_it_rejects_broken_files_with_a_reason(raw, message):
    with pytest.raises(CsvError, match=message):
        parse_csv(raw)


def test_mapping_overrides_are_checked():
    assert parse_mapping_override("email=Mail", ["Mail"]) == {"email": "Mail"}
    with pytest.raises(CsvError, match="no column"):
        parse_mapping_override("email=Nope", ["Mail"])
    with pytest.raises(CsvError, match="canonical_field"):
        parse_mapping_override("colour=Mail", ["Mail"])


def test_it_neutralises_formulas_on_export(tmp_path):
    out = tmp_path / "out.csv"
    write_csv(out, ["a", "b"], [{"a": '=HYPERLINK("x")', "b": "-12.5"}])
    assert out.read_text().splitlines()[1] == '"\'=HYPERLINK(""x"")",-12.5'
