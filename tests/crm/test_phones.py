from __future__ import annotations

import pytest

from crm.phones import InvalidNumber, normalise_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086-138-0013-8000", "13800138000"),
        ("8613800138000", "13800138000"),  # some trunks present the country code without '+'
        ("(010) 6655 1234", "01066551234"),
        ("+86 10 6655 1234", "1066551234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("10086", "10086"),
    ],
)
def test_spellings_of_one_number_normalise_to_one_key(raw: str, expected: str) -> None:
    assert normalise_number(raw) == expected


@pytest.mark.parametrize("raw", ["", "anonymous", "12", "+86", "138-0013-800x", "1" * 21])
def test_non_numbers_are_refused_naming_the_input(raw: str) -> None:
    with pytest.raises(InvalidNumber) as exc:
        normalise_number(raw)
    assert str(exc.value) == f"{raw!r} is not a phone number"
