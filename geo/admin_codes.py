"""Chinese administrative division codes (行政区划代码): 6 digits a district, 9 a town or street.

Pure text rules, no geometry, so that the accounts and filters can use them cheaply.
"""
from __future__ import annotations

import math

TOWN_CODE_LENGTH = 9
# The jurisdiction levels above a town (issue 14): a district's code starts with its city's and
# province's (370403 → 3704 → 37).
LEVEL_DIGITS = {"province": 2, "city": 4, "district": 6}


def normalise_code(value, length: int) -> str:
    """An administrative code as text, cut to ``length`` digits when the rest is zeros.

    The land-survey codes of boundary files (and people copying them) pad the 9-digit town code
    to 12 digits: ``370403104000`` → ``370403104``. This is the one place that rule lives.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():  # DBF numeric fields arrive as floats
        value = int(value)
    text = str(value).strip()
    if len(text) > length and text.isdigit() and set(text[length:]) == {"0"}:
        text = text[:length]
    return text


def parent_prefix(parent: str) -> str:
    """The digits a child code starts with: ``370403`` → ``370403``, ``370400`` → ``3704``."""
    significant = parent.strip().rstrip("0")
    return parent.strip()[:len(significant) + len(significant) % 2]  # codes go in pairs of digits


def level_code(value, level: str) -> str:
    """A province, city or district code as people write it → its 2, 4 or 6 digits when it is
    one (``370400`` → ``3704`` for a city); other text comes back stripped, for the caller to reject."""
    return normalise_code(value, LEVEL_DIGITS[level])


def is_level_code(code: str, level: str) -> bool:
    return code.isascii() and code.isdigit() and len(code) == LEVEL_DIGITS[level]


def town_code(value) -> str:
    """A town code as people write it (9 digits, or the 12-digit land-survey form) → 9 digits
    when it is one; other text comes back stripped, for the caller to reject."""
    return normalise_code(value, TOWN_CODE_LENGTH)
