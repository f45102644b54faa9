"""Header rows of the exports people bring: each CRM's and data tool's columns map to the
canonical fields, and home or secondary columns never fill the work ones."""

from __future__ import annotations

import pytest

from enrichment.csvio import infer_mapping

KEY_FIELDS = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "company_name",
    "domain",
    "title",
    "phone",
    "mobile_phone",
    "linkedin_url",
    "country",
)


def _key(mapping: dict[str, str]) -> dict[str, str]:
    return {f: mapping[f] for f in KEY_FIELDS if f in mapping}


def test_apollo():
    headers = [
        "First Name", "Last Name", "Title", "Company", "Company Name for Emails", "Email",
        "Email Status", "Seniority", "Departments", "Work Direct Phone", "Home Phone",
        "Mobile Phone", "Corporate Phone", "Other Phone", "# Employees", "Industry",
        "Person Linkedin Url", "Website", "Company Linkedin Url", "City", "State", "Country",
        "Company City", "Company Country", "Technologies", "Annual Revenue", "Secondary Email",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "company_name": "Company",
        "domain": "Website",
        "title": "Title",
        "phone": "Work Direct Phone",
        "mobile_phone": "Mobile Phone",
        "linkedin_url": "Person Linkedin Url",
        "country": "Country",
    }
    assert mapping["company_size"] == "# Employees"
    assert mapping["department"] == "Departments"
    assert mapping["company_linkedin_url"] == "Company Linkedin Url"
    assert mapping["city"] == "City"


def test_apollo_company_phone_is_used_when_no_direct_line_is_given():
    mapping = infer_mapping(["First Name", "Company Name for Emails", "Corporate Phone"])
    assert mapping["phone"] == "Corporate Phone"
    assert mapping["company_name"] == "Company Name for Emails"


def test_hubspot():
    headers = [
        "Record ID", "First Name", "Last Name", "Email", "Phone Number", "Mobile Phone Number",
        "Job Title", "Company Name", "Website URL", "City", "State/Region", "Country/Region",
        "Postal Code", "Number of Employees", "Annual Revenue", "Industry", "LinkedIn URL",
        "Lifecycle Stage", "Contact owner",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "company_name": "Company Name",
        "domain": "Website URL",
        "title": "Job Title",
        "phone": "Phone Number",
        "mobile_phone": "Mobile Phone Number",
        "linkedin_url": "LinkedIn URL",
        "country": "Country/Region",
    }
    assert (mapping["state"], mapping["zip_code"]) == ("State/Region", "Postal Code")
    assert (mapping["company_size"], mapping["company_revenue"]) == (
        "Number of Employees",
        "Annual Revenue",
    )


def test_salesforce_contacts():
    headers = [
        "Salutation", "First Name", "Last Name", "Title", "Account Name", "Email", "Phone",
        "Mobile", "Home Phone", "Mailing City", "Mailing State/Province",
        "Mailing Zip/Postal Code", "Mailing Country", "Department", "Lead Source",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email",
        "company_name": "Account Name",
        "title": "Title",
        "phone": "Phone",
        "mobile_phone": "Mobile",
        "country": "Mailing Country",
    }
    assert mapping["state"] == "Mailing State/Province"
    assert mapping["zip_code"] == "Mailing Zip/Postal Code"


def test_salesforce_leads():
    headers = [
        "First Name", "Last Name", "Title", "Company / Account", "Email", "Phone", "Website",
        "Industry", "No. of Employees", "City", "State/Province", "Country", "Lead Status",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert mapping["company_name"] == "Company / Account"
    assert mapping["domain"] == "Website"
    assert mapping["company_size"] == "No. of Employees"
    assert mapping["state"] == "State/Province"


def test_pipedrive():
    headers = [
        "Person - Name", "Person - First name", "Person - Last name", "Person - Email - Work",
        "Person - Email - Home", "Person - Phone - Work", "Person - Phone - Mobile",
        "Person - Phone - Home", "Person - Job title", "Organization - Name",
        "Organization - Website", "Deal - Title",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "Person - First name",
        "last_name": "Person - Last name",
        "full_name": "Person - Name",
        "email": "Person - Email - Work",
        "company_name": "Organization - Name",
        "domain": "Organization - Website",
        "title": "Person - Job title",
        "phone": "Person - Phone - Work",
        "mobile_phone": "Person - Phone - Mobile",
    }
    assert mapping["personal_email"] == "Person - Email - Home"


def test_lusha():
    headers = [
        "First Name", "Last Name", "Job Title", "Company Name", "Company Website",
        "LinkedIn URL", "Email 1", "Email 1 Type", "Email 2", "Phone 1", "Phone 1 Type",
        "Country", "City", "Seniority", "Department", "Industry", "Company Size",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email 1",
        "company_name": "Company Name",
        "domain": "Company Website",
        "title": "Job Title",
        "phone": "Phone 1",
        "linkedin_url": "LinkedIn URL",
        "country": "Country",
    }


def test_zoominfo():
    headers = [
        "ZoomInfo Contact ID", "First Name", "Last Name", "Job Title", "Management Level",
        "Department", "Direct Phone Number", "Email Address", "Supplemental Email",
        "Mobile phone", "LinkedIn Contact Profile URL", "Person City", "Person State",
        "Person Zip Code", "Country", "Company Name", "Website", "Revenue (in 000s USD)",
        "Employees", "Primary Industry", "Company HQ Phone",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "Email Address",
        "company_name": "Company Name",
        "domain": "Website",
        "title": "Job Title",
        "phone": "Direct Phone Number",
        "mobile_phone": "Mobile phone",
        "linkedin_url": "LinkedIn Contact Profile URL",
        "country": "Country",
    }
    assert mapping["company_revenue"] == "Revenue (in 000s USD)"
    assert mapping["industry"] == "Primary Industry"
    assert mapping["seniority"] == "Management Level"


def test_hunter():
    headers = [
        "Email address", "First name", "Last name", "Position", "Department", "Seniority",
        "Organization", "Domain name", "LinkedIn URL", "Twitter handle", "Phone number",
        "Confidence score", "Type", "Number of sources", "Country",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First name",
        "last_name": "Last name",
        "email": "Email address",
        "company_name": "Organization",
        "domain": "Domain name",
        "title": "Position",
        "phone": "Phone number",
        "linkedin_url": "LinkedIn URL",
        "country": "Country",
    }


def test_linkedin_sales_navigator_scrapers():
    headers = [
        "profileUrl", "linkedInProfileUrl", "fullName", "firstName", "lastName",
        "companyName", "title", "companyUrl", "location", "companyWebsite",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "firstName",
        "last_name": "lastName",
        "full_name": "fullName",
        "company_name": "companyName",
        "domain": "companyWebsite",
        "title": "title",
        "linkedin_url": "linkedInProfileUrl",
    }
    assert mapping["location"] == "location"


def test_google_contacts_old_and_new_exports():
    old = [
        "Name", "Given Name", "Additional Name", "Family Name", "E-mail 1 - Type",
        "E-mail 1 - Value", "E-mail 2 - Type", "E-mail 2 - Value", "Phone 1 - Type",
        "Phone 1 - Value", "Organization 1 - Name", "Organization 1 - Title",
        "Website 1 - Value", "Address 1 - City", "Address 1 - Country",
    ]  # fmt: skip
    assert _key(infer_mapping(old)) == {
        "first_name": "Given Name",
        "last_name": "Family Name",
        "full_name": "Name",
        "email": "E-mail 1 - Value",
        "company_name": "Organization 1 - Name",
        "domain": "Website 1 - Value",
        "title": "Organization 1 - Title",
        "phone": "Phone 1 - Value",
        "country": "Address 1 - Country",
    }
    new = [
        "First Name", "Middle Name", "Last Name", "E-mail 1 - Label", "E-mail 1 - Value",
        "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value", "Organization Name",
        "Organization Title", "Website 1 - Value",
    ]  # fmt: skip
    assert _key(infer_mapping(new)) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "E-mail 1 - Value",
        "company_name": "Organization Name",
        "domain": "Website 1 - Value",
        "title": "Organization Title",
        "phone": "Phone 1 - Value",
    }


def test_outlook_contacts():
    headers = [
        "Title", "First Name", "Middle Name", "Last Name", "Suffix", "Company", "Department",
        "Job Title", "Business Street", "Business City", "Business State",
        "Business Postal Code", "Business Country/Region", "Business Phone", "Home Phone",
        "Mobile Phone", "E-mail Address", "E-mail 2 Address", "Web Page",
    ]  # fmt: skip
    mapping = infer_mapping(headers)
    assert _key(mapping) == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "email": "E-mail Address",
        "company_name": "Company",
        "domain": "Web Page",
        "title": "Job Title",  # Outlook's "Title" is Mr./Ms.
        "phone": "Business Phone",
        "mobile_phone": "Mobile Phone",
        "country": "Business Country/Region",
    }
    assert (mapping["city"], mapping["state"], mapping["zip_code"]) == (
        "Business City",
        "Business State",
        "Business Postal Code",
    )


@pytest.mark.parametrize(
    "headers",
    [
        ["Name", "Home Phone", "Home Email", "Email 2", "E-mail 2 Address", "Personal Phone"],
        ["Name", "Person - Email - Home", "Person - Phone - Home", "Other Phone"],
    ],
)
def test_home_and_secondary_columns_never_fill_the_work_fields(headers):
    mapping = infer_mapping(headers)
    assert "email" not in mapping and "phone" not in mapping and "mobile_phone" not in mapping
