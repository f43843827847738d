"""Turning what a caller said into what a flow can use: phrase matching and spoken digits.

Pure text functions shared by the interpreter (is this transcript one of the menu's phrases?) and
the speech engines (map a free Whisper transcript to the nearest allowed option). Matching is on
normalized text: lower case, punctuation removed, whitespace collapsed; Chinese and Korean phrases
match as substrings, other languages as whole words.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Sequence

# Whisper writes what it hears; these are the usual confusions for spoken digits.
HOMOPHONES = {"to": "two", "too": "two", "for": "four", "won": "one", "ate": "eight", "o": "oh"}
EN_DIGITS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
ZH_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
             "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}  # fmt: skip
_NUMERAL_WORDS = {v: k for k, v in EN_DIGITS.items() if k != "oh"}


def normalize(text: str) -> str:
    """Lower case, punctuation to spaces, numerals spelled out as digit words, homophones fixed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c if c.isalnum() or c.isspace() or c == "'" else " " for c in text)
    words = []
    for w in text.split():
        if w.isdigit() and w.isascii():
            words += [_NUMERAL_WORDS[c] for c in w]
        else:
            words.append(HOMOPHONES.get(w, w))
    return " ".join(words)


def _is_cjk(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) == "W" for c in text)


def _spans(text: str, phrase: str) -> list[tuple[int, int]]:
    if _is_cjk(phrase):
        return [(m.start(), m.end()) for m in re.finditer(re.escape(phrase), text)]
    return [(m.start(), m.end()) for m in re.finditer(rf"(?<!\S){re.escape(phrase)}(?!\S)", text)]


def match_phrases(text: str, groups: Sequence[Sequence[str]]) -> int | None:
    """The index of the one group with a phrase in `text`; None when none or several match.

    Longer phrases claim their words first, so "不是" does not also count as "是"."""
    norm = normalize(text)
    candidates = sorted(
        ((normalize(p), i) for i, group in enumerate(groups) for p in group), key=lambda pi: -len(pi[0])
    )
    claimed: list[tuple[int, int]] = []
    found: set[int] = set()
    for phrase, i in candidates:
        if not phrase:
            continue
        for start, end in _spans(norm, phrase):
            if all(end <= s or start >= e for s, e in claimed):
                claimed.append((start, end))
                found.add(i)
    return found.pop() if len(found) == 1 else None


def spoken_digits(text: str, language: str) -> str | None:
    """'three zero five' -> '305' ('三零五' in Chinese); None when anything else was said."""
    if language == "zh":
        chars = [c for c in unicodedata.normalize("NFKC", text) if not c.isspace() and c not in "，。,."]
        out = [ZH_DIGITS.get(c, c if c.isdigit() else "") for c in chars]
        return "".join(out) if out and all(out) else None
    words = normalize(text).split()
    digits = [EN_DIGITS.get(w) for w in words]
    return "".join(d for d in digits if d) if words and all(digits) else None


def nearest_option(transcript: str, options: Sequence[str], *, min_ratio: float = 0.5) -> tuple[str | None, float]:
    """Map a free transcript to one allowed option: (option or None when rejected, similarity).

    Exactly one option's words in the transcript wins outright (similarity 1.0); two different
    options in it is ambiguous and rejected; otherwise the most similar option by character ratio,
    rejected below `min_ratio` or when the runner-up is as close."""
    norm = normalize(transcript)
    if not norm:
        return None, 0.0
    index = match_phrases(norm, [[o] for o in options])
    if index is not None:
        return options[index], 1.0
    if any(_spans(norm, normalize(o)) for o in options):
        return None, 0.0  # several options said: ambiguous
    scored = sorted(
        ((difflib.SequenceMatcher(None, norm, normalize(o)).ratio(), o) for o in options), reverse=True
    )
    best_ratio, best = scored[0]
    if best_ratio < min_ratio or (len(scored) > 1 and scored[1][0] == best_ratio and normalize(scored[1][1]) != normalize(best)):
        return None, best_ratio
    return best, best_ratio
