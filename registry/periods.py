"""Reporting months (月度调度): a period is the text ``YYYY-MM``, which sorts like the month it names."""
from __future__ import annotations

import calendar
import datetime as dt
import re

from registry.errors import InvalidInput

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def of_date(day: dt.date) -> str:
    """The period a date falls in."""
    return f"{day.year:04d}-{day.month:02d}"


def current(today: dt.date | None = None) -> str:
    return of_date(today or dt.date.today())


def is_period(text: str | None) -> bool:
    return bool(text) and _PERIOD.match(text) is not None


# Reporting months a plan can mean (year 0 is no date; 9999 would make month series absurd).
FIRST_YEAR, LAST_YEAR = 2000, 2099


def parse(text: str | None, *, default: str | None = None, field: str = "period") -> str:
    """A ``YYYY-MM`` period (``YYYY-M`` and ``YYYY-MM-DD`` are accepted); blank → ``default``
    (the current month when not given). Bad text raises ``InvalidInput`` naming ``field``."""
    text = (text or "").strip()
    if not text:
        return default or current()
    match = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})月?(?:[-/.](\d{1,2})日?)?", text)
    if match and 1 <= int(match[2]) <= 12 and FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        return f"{match[1]}-{int(match[2]):02d}"
    raise InvalidInput(f"上报月份“{text}”格式不对（应为 {FIRST_YEAR}–{LAST_YEAR} 年的 YYYY-MM，如 {current()}）",
                       {"field": field, "parameter": field, "value": text})


def shift(period: str, months: int) -> str:
    """The period ``months`` later (negative: earlier)."""
    year, month = int(period[:4]), int(period[5:7])
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def first_day(period: str) -> dt.date:
    return dt.date(int(period[:4]), int(period[5:7]), 1)


def last_day(period: str) -> dt.date:
    year, month = int(period[:4]), int(period[5:7])
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def span(first: str, last: str) -> list[str]:
    """Every period from ``first`` to ``last`` inclusive (empty when ``first`` is later)."""
    out, period = [], first
    while period <= last:
        out.append(period)
        period = shift(period, 1)
    return out


def label(period: str) -> str:
    """``2025年6月``."""
    return f"{int(period[:4])}年{int(period[5:7])}月"
