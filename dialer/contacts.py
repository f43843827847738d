"""Contact lists: CSV in, validated contacts (E.164 number, country, time zones) and a rejection
report out.

Theory of operation
-------------------
* Columns (header row required, names case-insensitive): `phone` (required), `id`, `name`,
  `country` (ISO 3166 alpha-2; defaults to the import's default country), `timezone` (an IANA
  zone; overrides the zone derived from the number), `consent` (yes/no; empty: unknown),
  `opt_out` (yes/no), `customer_id`. Other columns are kept in `Contact.fields` for the script.
* A row is either accepted whole or rejected with every problem it has, each as
  `row N, column C: reason`. `N` is the file's line number (the header is row 1), so the report
  points at the line in an editor. Rejections never stop the import.
* Numbers become E.164 (`+<country code><national number>`): separators are dropped, `+` and
  `00` mean international, otherwise the row's country applies and its trunk prefix (`0`, or `1`
  for NANP) is removed. The national length is checked per country. (crm/phones.py keeps the
  CRM's national ANI form instead; the runner converts CRM numbers with this function.)
* The time zone comes from, in order: the `timezone` column; the NANP area code (+1); the
  country's zones. A country with several zones and no better information gives every zone, and
  the calling window must then be open in all of them (see windows.py).
* Pure: text in, values out; no file access (the CLI reads the file).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callcenter.csvreport import RowProblem
from callcenter.events import ContactId, CustomerId


@dataclass(frozen=True, slots=True)
class Country:
    code: str
    calling_code: str
    trunk_prefix: str
    national_digits: tuple[int, int]  # min, max digits after the country code
    zones: tuple[str, ...]


_US_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
)
_CA_ZONES = (
    "America/St_Johns",
    "America/Halifax",
    "America/Toronto",
    "America/Winnipeg",
    "America/Regina",
    "America/Edmonton",
    "America/Vancouver",
)
COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country("US", "1", "1", (10, 10), _US_ZONES),
        Country("CA", "1", "1", (10, 10), _CA_ZONES),
        Country("GB", "44", "0", (9, 10), ("Europe/London",)),
        Country("DE", "49", "0", (6, 13), ("Europe/Berlin",)),
        Country("FR", "33", "0", (9, 9), ("Europe/Paris",)),
        Country("ES", "34", "", (9, 9), ("Europe/Madrid",)),
        Country("IT", "39", "", (6, 11), ("Europe/Rome",)),
        Country("NL", "31", "0", (9, 9), ("Europe/Amsterdam",)),
        Country("CN", "86", "0", (10, 11), ("Asia/Shanghai",)),
        Country("KR", "82", "0", (8, 10), ("Asia/Seoul",)),
        Country("JP", "81", "0", (9, 10), ("Asia/Tokyo",)),
        Country("IN", "91", "0", (10, 10), ("Asia/Kolkata",)),
        Country("AU", "61", "0", (9, 9), ("Australia/Sydney", "Australia/Adelaide", "Australia/Perth")),
    )
}
_BY_CALLING_CODE: dict[str, str] = {}
for _c in COUNTRIES.values():
    _BY_CALLING_CODE.setdefault(_c.calling_code, _c.code)  # "1" -> US until the area code says CA

# NANP area codes whose zone is known (a common subset; others fall back to every zone of the
# country). Area codes that straddle a zone boundary are deliberately left out.
_NANP_AREAS: dict[str, tuple[str, str]] = {}
for _country, _zone, _codes in (
    ("US", "America/New_York", "201 202 203 207 212 215 216 301 302 305 313 401 404 407 410 412 "
     "413 502 513 516 518 561 603 609 610 614 617 631 646 703 704 716 718 757 770 786 802 804 "
     "813 845 860 904 908 910 914 917 919 954 973"),
    ("US", "America/Chicago", "205 214 225 262 281 312 314 316 318 319 334 402 405 414 469 501 "
     "504 512 515 601 608 612 615 618 630 651 708 713 773 815 816 817 832 847 901 918 972"),
    ("US", "America/Denver", "303 307 385 406 435 505 719 720 801 970"),
    ("US", "America/Phoenix", "480 520 602 623 928"),
    ("US", "America/Los_Angeles", "206 209 213 253 310 323 360 408 415 424 425 503 510 530 541 "
     "559 562 619 626 650 657 661 702 707 714 725 760 775 805 818 831 858 909 916 925 949 971"),
    ("US", "America/Anchorage", "907"),
    ("US", "Pacific/Honolulu", "808"),
    ("CA", "America/Toronto", "226 289 343 416 437 438 450 514 519 581 613 647 705 819 905"),
    ("CA", "America/Vancouver", "236 250 604 672 778"),
    ("CA", "America/Edmonton", "368 403 587 780 825"),
    ("CA", "America/Winnipeg", "204 431"),
    ("CA", "America/Regina", "306 639"),
    ("CA", "America/Halifax", "506 782 902"),
    ("CA", "America/St_Johns", "709"),
):
    for _code in _codes.split():
        _NANP_AREAS[_code] = (_country, _zone)

_SEPARATORS = re.compile(r"[\s\-.()/]")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}
_CONTACT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
KNOWN_COLUMNS = ("id", "phone", "name", "country", "timezone", "consent", "opt_out", "customer_id")


@dataclass(frozen=True, slots=True)
class Contact:
    """One callee of a campaign, ready for compliance checks and dialing."""

    contact_id: ContactId
    number: str  # E.164
    country: str
    time_zones: tuple[str, ...]
    name: str = ""
    customer_id: CustomerId | None = None
    consent: bool | None = None  # None: the list did not say
    opted_out: bool = False
    fields: Mapping[str, str] = field(default_factory=dict)


Rejection = RowProblem  # the CRM's imports report their rows the same way


@dataclass(frozen=True, slots=True)
class ContactImport:
    contacts: tuple[Contact, ...]
    rejections: tuple[Rejection, ...]


class InvalidNumber(ValueError):
    """A phone number that cannot be turned into E.164; the message says why."""


def normalise(raw: str, country: str) -> tuple[str, str]:
    """`(e164, country)` for `raw` read in `country`; the country may change for +1 numbers."""
    text = _SEPARATORS.sub("", raw)
    if not text:
        raise InvalidNumber("empty")
    international = text.startswith("+") or text.startswith("00")
    digits = text[1:] if text.startswith("+") else text[2:] if text.startswith("00") else text
    if bad := next((ch for ch in digits if not ch.isdigit()), None):
        raise InvalidNumber(f"{raw!r} contains {bad!r}; expected digits, separators and a leading '+'")
    if international:
        code = next((digits[:n] for n in (1, 2, 3) if digits[:n] in _BY_CALLING_CODE), None)
        if code is None:
            raise InvalidNumber(f"{raw!r} has no supported country calling code")
        home = COUNTRIES[_BY_CALLING_CODE[code]]
        if country in COUNTRIES and COUNTRIES[country].calling_code == code:
            home = COUNTRIES[country]
        national = digits[len(code) :]
    else:
        home = COUNTRIES[country]
        national = digits
        if home.trunk_prefix and national.startswith(home.trunk_prefix) and len(national) > home.national_digits[0]:
            national = national[len(home.trunk_prefix) :]
    low, high = home.national_digits
    if not low <= len(national) <= high:
        expected = f"{low}" if low == high else f"{low} to {high}"
        raise InvalidNumber(f"{raw!r} has {len(national)} national digits; a {home.code} number has {expected}")
    if home.calling_code == "1":
        if national[0] in "01" or national[3] in "01":
            raise InvalidNumber(f"{raw!r} is not a valid NANP number (area code and exchange start with 2-9)")
        area = _NANP_AREAS.get(national[:3])
        if area is not None:
            home = COUNTRIES[area[0]]
    return f"+{home.calling_code}{national}", home.code


def zones_for(e164: str, country: str) -> tuple[str, ...]:
    if e164.startswith("+1"):
        area = _NANP_AREAS.get(e164[2:5])
        if area is not None:
            return (area[1],)
    return COUNTRIES[country].zones


def parse_contacts(text: str, *, default_country: str, id_prefix: str = "") -> ContactImport:
    """Every valid row as a `Contact`, every invalid one as `Rejection`s (see the module docstring)."""
    if default_country not in COUNTRIES:
        raise ValueError(f"default country {default_country!r} is not supported ({', '.join(sorted(COUNTRIES))})")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return ContactImport((), (Rejection(1, "phone", "the file is empty; expected a header row"),))
    columns = [h.strip().lower() for h in header]
    if "phone" not in columns:
        return ContactImport((), (Rejection(1, "phone", "missing required column; the header has " + ", ".join(columns)),))
    seen_numbers: dict[str, int] = {}
    seen_ids: dict[str, int] = {}
    contacts: list[Contact] = []
    rejections: list[Rejection] = []
    for record in reader:
        row = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(columns):
            rejections.append(Rejection(row, "*", f"has {len(record)} fields; the header has {len(columns)}"))
            continue
        values = {c: v.strip() for c, v in zip(columns, record, strict=True)}
        problems: list[Rejection] = []
        contact = _contact(values, row, default_country, id_prefix, problems)
        if contact is not None:
            for key, seen, column in ((contact.number, seen_numbers, "phone"), (contact.contact_id, seen_ids, "id")):
                if key in seen:
                    problems.append(Rejection(row, column, f"{key} duplicates row {seen[key]}"))
        if problems or contact is None:
            rejections.extend(problems)
            continue
        seen_numbers[contact.number] = row
        seen_ids[contact.contact_id] = row
        contacts.append(contact)
    return ContactImport(tuple(contacts), tuple(rejections))


def _contact(
    values: dict[str, str], row: int, default_country: str, id_prefix: str, problems: list[Rejection]
) -> Contact | None:
    def reject(column: str, reason: str) -> None:
        problems.append(Rejection(row, column, reason))

    country = values.get("country", "").upper() or default_country
    if country not in COUNTRIES:
        reject("country", f"{values['country']!r} is not a supported country ({', '.join(sorted(COUNTRIES))})")
        country = ""
    number = ""
    if country:
        try:
            number, number_country = normalise(values["phone"], country)
        except InvalidNumber as exc:
            reject("phone", str(exc))
        else:
            if values.get("country") and COUNTRIES[number_country].calling_code != COUNTRIES[country].calling_code:
                reject("country", f"{values['country']!r} does not match the number's country {number_country}")
            country = number_country
    zones: tuple[str, ...] = ()
    if tz := values.get("timezone", ""):
        try:
            ZoneInfo(tz)
            zones = (tz,)
        except (ZoneInfoNotFoundError, ValueError):
            reject("timezone", f"{tz!r} is not a known time zone")
    flags: dict[str, bool | None] = {}
    for column in ("consent", "opt_out"):
        raw = values.get(column, "").lower()
        flags[column] = True if raw in _YES else False if raw in _NO else None
        if raw and flags[column] is None:
            reject(column, f"{values[column]!r} is not yes or no")
    if (contact_id := values.get("id", "")) and not _CONTACT_ID.fullmatch(contact_id):
        # The id travels to Asterisk (Originate's CONTACT_ID): a comma there would start another
        # variable, and the dialplan would read it as an argument separator.
        reject("id", f"{contact_id!r} is not 1 to 64 letters, digits, '_', '-' or '.'")
    if problems or not number:
        return None
    extra = {k: v for k, v in values.items() if k not in KNOWN_COLUMNS}
    return Contact(
        contact_id=ContactId(values.get("id") or f"{id_prefix}{row}"),
        number=number,
        country=country,
        time_zones=zones or zones_for(number, country),
        name=values.get("name", ""),
        customer_id=CustomerId(values["customer_id"]) if values.get("customer_id") else None,
        consent=flags["consent"],
        opted_out=bool(flags["opt_out"]),
        fields=extra,
    )
