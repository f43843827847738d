"""Phone number normalisation: one spelling per number, so the ANI look-up is an exact match.

Rules (China is the home country; the hotline sees +86, 0086 and national forms of one number):
* spaces, dashes, dots and parentheses are dropped;
* a leading `+86` or `0086` is dropped, and so is `86` in front of an 11-digit mobile number
  (`8613800138000`), which is how some trunks present it;
* any other international prefix is kept as `+<digits>` (`0044...` becomes `+44...`);
* what remains must be 3 to 20 digits, else `InvalidNumber` names the input.

Not dialer/contacts.py's `normalise`, on purpose: that one makes E.164 for dialing abroad with
per-country length checks; this one keeps the national form the hotline's trunks present as ANI.
"""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-.()]")
_DIGITS = re.compile(r"\d{3,20}")


class InvalidNumber(ValueError):
    """The text is not a phone number."""


def normalise_number(raw: str) -> str:
    text = _SEPARATORS.sub("", raw)
    international = False
    if text.startswith("+"):
        text, international = text[1:], True
    elif text.startswith("00"):
        text, international = text[2:], True
    if international and text.startswith("86"):
        text, international = text[2:], False
    elif not international and len(text) == 13 and text.startswith("861"):
        text = text[2:]
    if not _DIGITS.fullmatch(text):
        raise InvalidNumber(f"{raw!r} is not a phone number")
    return f"+{text}" if international else text
