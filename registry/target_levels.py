"""City and province targets (DESIGN §9, issue 14 item 2): which districts a level holds, who may
read a level's targets, and the 区县合计 shown beside each level target.

A city (4-digit code) or province (2-digit code) sets targets in its own file; they are measured
over every project of its districts, by the same rules as a district's (``registry.target_sums``).
Beside each one, the sum of its districts' targets *of the same measure* — same metric, filter,
unit, window and deadline year — threshold and value: what the districts' own plans add up to.
Ratios are never summed (a growth rate, a ``reported`` target in % or without a unit), and
nothing is invented where no district has such a target.

Reading: a level's targets are visible to a scope that sees every district of it the registry
holds (a viewer of the city or of its province, a bureau given all of them) and to the scopes
that see the whole registry; never to a town user. Writing them is the administrator's (and the
operator's, on the command line). Migration 0018 holds the database to the same rule.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from geo.admin_codes import is_level_code
from registry.level_districts import districts_of
from registry.roles import Role
from registry.scope import Scope
from registry.vocab import TARGET_SUM_REASONS, label

LEVELS = ("city", "province")
LEVEL_WRITERS = frozenset({Role.ADMIN, Role.SYSTEM})
RATIO_UNITS = ("%", "％", "比例", "百分比", "率")


def level_of(code: str) -> str | None:
    """``city`` for a 4-digit code, ``province`` for a 2-digit one, else ``None``."""
    return next((level for level in LEVELS if is_level_code(code, level)), None)


def can_write_levels(scope: Scope) -> bool:
    return scope.role in LEVEL_WRITERS


def districts_by_level(session: Session) -> dict[str, list[str]]:
    """City or province code → the codes of its districts in the registry (zones included: a
    project belongs to one district row, so none counts twice)."""
    return districts_of(session, LEVELS)


def covered_levels(session: Session, scope: Scope) -> set[str] | None:
    """The cities and provinces whose targets ``scope`` reads (``None``: all of them)."""
    if scope.whole_registry:
        return None
    if scope.district_codes is None:
        return set()  # a town user: its towns' part, never a whole district's
    return {level for level, districts in districts_by_level(session).items()
            if set(districts) <= scope.district_codes}


# --- 区县合计 ----------------------------------------------------------------------------------

def measure_key(target) -> tuple:
    """What makes a district's target the same measure as a level's (the deadline by its year)."""
    filter_ = {k: sorted(v) if isinstance(v, list) else v for k, v in (target.filter or {}).items()}
    return (target.metric, json.dumps(filter_, sort_keys=True, ensure_ascii=False),
            (target.unit or "").strip(), target.window, target.deadline.year)


def not_summed_reason(metric: str, unit: str | None) -> str | None:
    """Why targets of this measure are never added up (a code of ``TARGET_SUM_REASONS``), or None."""
    if metric == "growth_vs_baseline":
        return "ratio"
    if metric == "reported":
        text = (unit or "").strip()
        if not text:
            return "no_unit"
        if any(mark in text for mark in RATIO_UNITS):
            return "percent"
    return None


@dataclass
class DistrictPart:
    """One district's target of the level target's measure."""
    id: str
    jurisdiction: str
    jurisdiction_name: str
    threshold: float
    value: float | None
    status: str


@dataclass
class DistrictSum:
    """区县合计 of a level target: the matching district targets and, unless a ratio, their sums."""
    of_districts: int  # districts of the level in the registry
    parts: list[DistrictPart] = field(default_factory=list)
    reason: str | None = None  # a TARGET_SUM_REASONS code: not summed
    threshold: float | None = None
    value: float | None = None

    @property
    def without_value(self) -> int:
        return sum(1 for p in self.parts if p.value is None)

    @property
    def by_jurisdiction(self) -> dict[str, DistrictPart]:
        return {p.jurisdiction: p for p in self.parts}

    @property
    def reason_label(self) -> str | None:
        return None if self.reason is None else label(TARGET_SUM_REASONS, self.reason)

    def as_json(self) -> dict:
        return {"threshold": self.threshold, "value": self.value, "targets": [p.id for p in self.parts],
                "districts": len(self.parts), "of_districts": self.of_districts,
                "without_value": self.without_value, "reason": self.reason}


def district_sum(level_target, level_districts: list[str], district_results: list, *, rounding) -> DistrictSum:
    """The 区县合计 of ``level_target`` from the results of district targets of the same measure
    (``district_results``: ``TargetResult`` of district targets in ``level_districts``; one a
    district, the first in file order). ``rounding(metric, value)`` rounds as the report does."""
    out = DistrictSum(of_districts=len(level_districts), reason=not_summed_reason(level_target.metric,
                                                                                  level_target.unit))
    seen: set[str] = set()
    for result in district_results:
        if result.jurisdiction in seen:
            continue
        seen.add(result.jurisdiction)
        out.parts.append(DistrictPart(result.id, result.jurisdiction, result.jurisdiction_name,
                                      result.threshold, result.value, result.status))
    if out.reason is None and out.parts:
        out.threshold = rounding(level_target.metric, sum(p.threshold for p in out.parts))
        values = [p.value for p in out.parts if p.value is not None]
        out.value = rounding(level_target.metric, sum(values)) if values else None
    return out


def matching_district_targets(level_target, level_districts: list[str], candidates) -> list:
    """The district targets (``Target`` rows of kind-district jurisdictions, given as
    ``(target, jurisdiction)``) in the level's districts with the level target's measure."""
    key, inside = measure_key(level_target), set(level_districts)
    return [t for t, j in candidates if j.kind == "district" and j.code in inside and measure_key(t) == key]

