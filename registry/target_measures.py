"""The rules of DESIGN §5a as pure functions: which projects count, their counting date, the
windows, what each project contributes to a metric (in total and per town), and the status.

No database here: ``registry.target_report`` reads the projects and calls these.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

PLAN_START = dt.date(2024, 1, 1)
MONEY_FIELDS = {"sum_total_investment": "total_investment", "sum_equipment_investment": "equipment_investment",
                "sum_completed_investment": "completed_investment",
                "growth_vs_baseline": "equipment_investment"}
DELIVERED = ("completed",)  # 竣工投产
DEFAULT_STAGES = {"sum_quantity": DELIVERED, "sum_length_km": DELIVERED}
STARTED = ("construction", "completed")  # 在建, 竣工投产: count, money sums, growth
KM_UNITS = frozenset({"公里", "千米", "km", "KM", "Km"})
DEFAULT_UNITS = {"count": "个", "sum_total_investment": "万元", "sum_equipment_investment": "万元",
                 "sum_completed_investment": "万元", "sum_length_km": "公里"}
# Worst first: the order of the dashboard panel.
STATUS_ORDER = ("overdue", "behind", "needs_baseline", "no_data", "on_track", "done")


@dataclass
class Candidate:
    """A live project of the jurisdiction, as ``target_projects.sql`` reads it."""
    id: int
    code: str
    name: str
    domain_code: str
    category: str | None
    stage: str
    total_investment: float
    equipment_investment: float | None
    completed_investment: float | None
    quantity: float | None
    unit: str | None
    actual_start: dt.date | None
    actual_end: dt.date | None
    primary_town_code: str | None
    is_line: bool
    shares: list = field(default_factory=list)  # [town_code, share, length_km | None]


@dataclass(frozen=True)
class Window:
    year: int | None  # per_year windows carry their year
    start: dt.date
    end: dt.date  # clipped at the as-of date


def stages_of(metric: str, filter_: dict) -> tuple[str, ...]:
    """The stages that count: the filter's, else the metric's default."""
    return tuple(filter_.get("stages") or DEFAULT_STAGES.get(metric, STARTED))


def matches(project: Candidate, filter_: dict, stages: tuple[str, ...]) -> bool:
    """Domain, category, minimum total investment and stage of DESIGN §5a."""
    if filter_.get("domain") and project.domain_code not in filter_["domain"]:
        return False
    if filter_.get("category") and (project.category or "").strip() not in filter_["category"]:
        return False
    minimum = filter_.get("min_total_investment")
    if minimum is not None and (project.total_investment or 0) < minimum:
        return False
    return project.stage in stages


def counting_date(project: Candidate, stages: tuple[str, ...]) -> dt.date | None:
    """``actual_end`` when only 竣工投产 counts, else ``actual_start``."""
    return project.actual_end if set(stages) == set(DELIVERED) else project.actual_start


def windows(window: str, deadline: dt.date, as_of: dt.date) -> list[Window]:
    """``cumulative``: one window 2024-01-01 … min(deadline, as-of); ``per_year``: each calendar
    year from 2024 to the deadline's year that has begun by the as-of date, clipped at it."""
    if window == "per_year":
        return [Window(y, dt.date(y, 1, 1), min(dt.date(y, 12, 31), as_of))
                for y in range(PLAN_START.year, min(deadline.year, as_of.year) + 1)]
    return [Window(None, PLAN_START, min(deadline, as_of))]


def growth_year(deadline: dt.date, as_of: dt.date) -> int:
    """The year whose equipment investment is compared with the baseline: the deadline's year,
    or the as-of year before it (DESIGN §9)."""
    return min(deadline.year, as_of.year)


def unit_alternatives(unit: str | None) -> frozenset[str]:
    """``台（套）`` → {台（套）, 台, 套}; full- and half-width brackets and slashes alike."""
    text = (unit or "").strip().replace("(", "（").replace(")", "）")
    if not text:
        return frozenset()
    parts = {text}
    match = re.fullmatch(r"(.+?)（(.+?)）", text)
    pieces = [match.group(1), match.group(2)] if match else re.split(r"[/／、]", text)
    parts.update(p.strip() for p in pieces if p.strip())
    return frozenset(parts)


def unit_agrees(target_unit: str | None, project_unit: str | None) -> bool:
    """No unit on the target accepts any; otherwise the units must share a name."""
    wanted = unit_alternatives(target_unit)
    return not wanted or bool(wanted & unit_alternatives(project_unit))


@dataclass
class Contribution:
    total: float  # the whole project's amount (inside the district for lengths)
    by_town: dict[str, float]


class Unmeasured(Exception):
    """The project counts but has no measure for this metric."""


class UnitMismatch(Exception):
    """The project's unit does not agree with the target's."""


def contribution(metric: str, unit: str | None, project: Candidate) -> Contribution:
    """What one counted project adds: count by primary town; money, quantity by share; length
    by each town's length (or 数量 in 公里/千米 by share for a project with no line)."""
    shares = {code: share for code, share, _km in project.shares}
    if metric == "count":
        return Contribution(1.0, {project.primary_town_code: 1.0} if project.primary_town_code else {})
    if metric in MONEY_FIELDS:
        amount = getattr(project, MONEY_FIELDS[metric]) or 0.0
        return Contribution(amount, {t: amount * s for t, s in shares.items()})
    if metric == "sum_quantity":
        if not unit_agrees(unit, project.unit):
            raise UnitMismatch
        if project.quantity is None:
            raise Unmeasured
        return Contribution(project.quantity, {t: project.quantity * s for t, s in shares.items()})
    if metric == "sum_length_km":
        if project.is_line:
            by_town = {code: km or 0.0 for code, _share, km in project.shares}
            return Contribution(sum(by_town.values()), by_town)
        if project.quantity is not None and (project.unit or "").strip() in KM_UNITS:
            return Contribution(project.quantity, {t: project.quantity * s for t, s in shares.items()})
        raise Unmeasured
    raise ValueError(f"metric {metric} is not measured from projects")


def elapsed_share(start: dt.date, end: dt.date, as_of: dt.date) -> float:
    """The share of the days start … end (inclusive) that have passed by the as-of date."""
    days = (end - start).days + 1
    if days <= 0:
        return 1.0
    return min(max((as_of - start).days + 1, 0), days) / days


def status(*, value: float | None, threshold: float, deadline: dt.date, as_of: dt.date,
           pace: float | None) -> str:
    """done / overdue / on_track / behind (``no_data`` and ``needs_baseline`` are decided first).

    ``pace`` None means compare with the threshold directly (growth before its deadline year).
    """
    if value is None:
        return "no_data"
    if value >= threshold and pace is not None:
        return "done"
    if as_of > deadline:
        return "overdue"
    if pace is None:
        return "on_track" if value >= threshold else "behind"
    return "on_track" if value >= pace else "behind"
