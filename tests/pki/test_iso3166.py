"""Country codes for certificate requests: what is accepted and how refusals help."""

from __future__ import annotations

import pytest

from diagnostics.pki import iso3166
from diagnostics.pki.iso3166 import CountryCodeError, CountryCodeProblem, check_country

# The exceptionally reserved codes as the ISO 3166 Maintenance Agency lists them.
RESERVED = ["AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "FX", "IC", "SU", "TA", "UK", "UN"]


def test_official_and_exceptionally_reserved_counts() -> None:
    """249 officially assigned codes and 13 exceptionally reserved ones, disjoint."""
    assert len(iso3166.OFFICIAL) == 249
    assert sorted(iso3166.EXCEPTIONALLY_RESERVED) == RESERVED
    assert not set(iso3166.OFFICIAL) & set(RESERVED)
    assert len(iso3166.ACCEPTED) == 249 + 13


@pytest.mark.parametrize("code", ["DE", "GB", "FR", "US", "GR", "GG", "IM", "JE", *RESERVED])
def test_accepted_codes_come_back_unchanged(code: str) -> None:
    """Official codes (GG, IM, JE included since 2006) and reserved ones are accepted."""
    assert check_country(code) == code


def test_no_user_assigned_code_is_accepted() -> None:
    """The user-assigned ranges (AA, QM-QZ, XA-XZ, ZZ) hold no accepted code."""
    assert len(iso3166.USER_ASSIGNED) == 1 + 14 + 26 + 1
    assert not iso3166.USER_ASSIGNED & iso3166.ACCEPTED


@pytest.mark.parametrize(
    ("text", "problem", "suggestion"),
    [
        ("de", CountryCodeProblem.LOWER_CASE, "DE"),
        ("Gb", CountryCodeProblem.LOWER_CASE, "GB"),
        ("uk", CountryCodeProblem.LOWER_CASE, "UK"),
        ("DEU", CountryCodeProblem.ALPHA3, "DE"),
        ("GBR", CountryCodeProblem.ALPHA3, "GB"),
        ("grc", CountryCodeProblem.ALPHA3, "GR"),
        ("UKR", CountryCodeProblem.ALPHA3, "UA"),
        ("EL", CountryCodeProblem.EU_ABBREVIATION, "GR"),
        ("el", CountryCodeProblem.EU_ABBREVIATION, "GR"),
        ("AA", CountryCodeProblem.USER_ASSIGNED, None),
        ("QM", CountryCodeProblem.USER_ASSIGNED, None),
        ("QZ", CountryCodeProblem.USER_ASSIGNED, None),
        ("XA", CountryCodeProblem.USER_ASSIGNED, None),
        ("XK", CountryCodeProblem.USER_ASSIGNED, None),
        ("ZZ", CountryCodeProblem.USER_ASSIGNED, None),
        ("AB", CountryCodeProblem.UNASSIGNED, None),
        ("XYZ", CountryCodeProblem.NOT_TWO_LETTERS, None),
        ("D", CountryCodeProblem.NOT_TWO_LETTERS, None),
        ("", CountryCodeProblem.NOT_TWO_LETTERS, None),
        ("12", CountryCodeProblem.NOT_TWO_LETTERS, None),
        ("Deutschland", CountryCodeProblem.NOT_TWO_LETTERS, None),
    ],
)
def test_refusals_name_the_problem_and_the_right_code(
    text: str, problem: CountryCodeProblem, suggestion: str | None
) -> None:
    """Each refusal kind carries its problem and, where one exists, the code to use."""
    with pytest.raises(CountryCodeError) as caught:
        check_country(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.text, error.problem, error.suggestion) == (text, problem, suggestion)
    if suggestion is not None:
        assert str(error).endswith(f"use {suggestion}")
        assert check_country(suggestion) == suggestion


def test_every_alpha3_code_suggests_an_accepted_alpha2() -> None:
    """All 249 alpha-3 codes are refused with their own alpha-2 code as the suggestion."""
    for alpha2, alpha3 in iso3166.OFFICIAL.items():
        with pytest.raises(CountryCodeError) as caught:
            check_country(alpha3)
        assert (caught.value.problem, caught.value.suggestion) == (
            CountryCodeProblem.ALPHA3,
            alpha2,
        )


def test_user_assigned_messages_say_why() -> None:
    """A user-assigned refusal says so, and XK names Kosovo."""
    with pytest.raises(CountryCodeError) as caught:
        check_country("XK")
    assert "user-assigned" in str(caught.value)
    assert "Kosovo" in str(caught.value)


def test_reserved_codes_carry_a_note_on_what_cas_expect() -> None:
    """UK is accepted with a note that public CAs expect GB; official codes need no note."""
    note = iso3166.reserved_note("UK")
    assert note is not None
    assert "exceptionally reserved" in note
    assert note.endswith("expect GB.")
    assert all(iso3166.reserved_note(code) for code in RESERVED)
    assert iso3166.reserved_note("GB") is None
