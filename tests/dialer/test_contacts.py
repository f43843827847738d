"""Contact lists: E.164 normalisation, time zones, and the exact rejection report."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.contacts import InvalidNumber, Rejection, normalise, parse_contacts

LIST = """id,phone,name,country,timezone,consent
c1,(212) 555-0100,Ann,,,yes
c2,12345,Bob,,,
c3,+44 20 7946 0958,Cleo,GB,,
c4,212-555-0100,Dup,,,
c5,+999 1234,Eve,,,
c6,030 1234567,Finn,DE,Mars/Base,maybe
c7,+1 415 555 0199,Gus,DE,,
c8,0044 161 496 0000,Hal,XX,,
c1,+1 907 555 0100,Ida,,,
c10,1-800-555-0100,Jo,,,no
c11,12a4,Kim,,,
c12,+1 199 555 0100,Lou,,,
c13,+1 650 555 0100
"""


def test_every_rejection_names_row_column_and_reason() -> None:
    result = parse_contacts(LIST, default_country="US")
    assert [str(r) for r in result.rejections] == [
        "row 3, column phone: '12345' has 5 national digits; a US number has 10",
        "row 5, column phone: +12125550100 duplicates row 2",
        "row 6, column phone: '+999 1234' has no supported country calling code",
        "row 7, column timezone: 'Mars/Base' is not a known time zone",
        "row 7, column consent: 'maybe' is not yes or no",
        "row 8, column country: 'DE' does not match the number's country US",
        "row 9, column country: 'XX' is not a supported country (AU, CA, CN, DE, ES, FR, GB, IN, IT, JP, KR, NL, US)",
        "row 10, column id: c1 duplicates row 2",
        "row 12, column phone: '12a4' contains 'a'; expected digits, separators and a leading '+'",
        "row 13, column phone: '+1 199 555 0100' is not a valid NANP number (area code and exchange start with 2-9)",
        "row 14, column *: has 2 fields; the header has 6",
    ]
    assert [(c.contact_id, c.number, c.country, c.consent) for c in result.contacts] == [
        ("c1", "+12125550100", "US", True),
        ("c3", "+442079460958", "GB", None),
        ("c10", "+18005550100", "US", False),
    ]


def test_time_zone_from_column_then_area_code_then_every_zone_of_the_country() -> None:
    text = "phone,timezone\n+1 212 555 0100,\n+1 604 555 0100,\n+1 800 555 0100,\n+1 212 555 0101,America/Chicago\n"
    contacts = parse_contacts(text, default_country="US").contacts
    assert [(c.number, c.country, c.time_zones) for c in contacts[:2]] == [
        ("+12125550100", "US", ("America/New_York",)),
        ("+16045550100", "CA", ("America/Vancouver",)),
    ]
    assert "Pacific/Honolulu" in contacts[2].time_zones and "America/New_York" in contacts[2].time_zones
    assert contacts[3].time_zones == ("America/Chicago",)


def test_ids_default_to_the_row_and_extra_columns_are_kept() -> None:
    contacts = parse_contacts("phone,plan\n+4930123456,gold\n", default_country="DE", id_prefix="L7-").contacts
    assert contacts[0].contact_id == "L7-2"
    assert contacts[0].fields == {"plan": "gold"}
    assert contacts[0].time_zones == ("Europe/Berlin",)


def test_header_problems() -> None:
    assert parse_contacts("", default_country="US").rejections == (
        Rejection(1, "phone", "the file is empty; expected a header row"),
    )
    assert [str(r) for r in parse_contacts("name,number\nAnn,1\n", default_country="US").rejections] == [
        "row 1, column phone: missing required column; the header has name, number"
    ]
    with pytest.raises(ValueError, match="default country 'XX' is not supported"):
        parse_contacts("phone\n", default_country="XX")


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("(212) 555-0100", "US", ("+12125550100", "US")),
        ("1 212 555 0100", "US", ("+12125550100", "US")),
        ("+1 (416) 555-0100", "US", ("+14165550100", "CA")),  # the area code says Canada
        ("030 1234567", "DE", ("+49301234567", "DE")),
        ("0049 30 1234567", "US", ("+49301234567", "DE")),
        ("020 7946 0958", "GB", ("+442079460958", "GB")),
        ("138 0013 8000", "CN", ("+8613800138000", "CN")),
        ("+86 10 1234 5678", "US", ("+861012345678", "CN")),
    ],
)
def test_normalise_to_e164(raw: str, country: str, expected: tuple[str, str]) -> None:
    assert normalise(raw, country) == expected


def test_normalise_errors() -> None:
    with pytest.raises(InvalidNumber, match=r"^empty$"):
        normalise(" - ", "US")
    with pytest.raises(InvalidNumber, match=r"^'\+49 12' has 2 national digits; a DE number has 6 to 13$"):
        normalise("+49 12", "US")


@settings(max_examples=200, deadline=None)
@given(
    area=st.integers(200, 999),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    style=st.sampled_from(["({a}) {e}-{l}", "{a}.{e}.{l}", "1 {a} {e} {l}", "+1{a}{e}{l}", "001-{a}-{e}-{l}"]),
    other=st.sampled_from(["DE", "GB", "CN"]),
)
def test_any_spelling_of_a_nanp_number_gives_one_e164_and_it_is_stable(
    area: int, exchange: int, line: int, style: str, other: str
) -> None:
    raw = style.format(a=area, e=exchange, l=f"{line:04d}")
    e164, country = normalise(raw, "US")
    assert e164 == f"+1{area}{exchange}{line:04d}"
    assert country in ("US", "CA")
    assert normalise(e164, other) == (e164, country)  # E.164 does not depend on the default country
