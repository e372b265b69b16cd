"""How far each plan target is (DESIGN §5a, §9): value, progress, pace, status, per-town split and
the data-quality lists, for ``eqreg targets report``, ``GET /api/v1/targets`` and the pages.

Scoping (DESIGN §6): a town-limited scope sees the targets of its towns' districts (and their
zones), computed over its towns' part only — counts by primary town, everything else by share —
and ``by_town`` holds its towns only. A district-limited scope sees its districts' targets (and
their zones'), over its districts' projects, and the targets of the cities and provinces whose
every district it sees (``registry.target_levels``). Everyone else sees every target and the
whole value. A city's or province's target also carries ``by_district`` and its 区县合计
(``district_sum``): the district targets of the same measure, summed unless a ratio.
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from registry import cache
from registry import target_measures as tm
from registry import sqlfiles, target_levels, target_sums
from registry.errors import InvalidInput, NotFound
from registry.models import District, Town
from registry.scope import Scope
from registry.targets import Target, TargetJurisdiction, latest_entries
from registry.vocab import TARGET_STATUSES, label

# JSON keys of one target, exactly those of DESIGN §5a in its order (时序进度要求 is for people: pages,
# XLSX and text; a JSON client has ``threshold``, ``window`` and ``deadline`` to work it out).
JSON_KEYS = ("id", "jurisdiction", "text", "metric", "unit", "threshold", "deadline", "window", "value",
             "progress", "status", "years", "by_town", "undated", "unit_mismatch", "unmeasured")


@dataclass
class CountedProject:
    id: int
    code: str
    name: str
    counting_date: dt.date
    amount: float  # the scope's part


@dataclass
class TargetResult:
    """One target's figures; ``as_json`` gives the §5a shape, the rest serves the pages."""
    id: str
    jurisdiction: str
    jurisdiction_name: str
    text: str
    metric: str
    unit: str | None
    threshold: float
    deadline: dt.date
    window: str
    value: float | None = None
    progress: float | None = None
    pace: float | None = None
    status: str = "no_data"
    years: dict[str, float] | None = None
    by_town: dict[str, float] = field(default_factory=dict)
    baseline: float | None = None
    reported: dict | None = None  # value, as_of, by
    counted: list[CountedProject] = field(default_factory=list)
    undated: list[dict] = field(default_factory=list)
    unit_mismatch: list[dict] = field(default_factory=list)
    unmeasured: list[dict] = field(default_factory=list)
    level: str | None = None  # city | province; None for a district's or a zone's target
    by_district: dict[str, float] | None = None  # a level's: district code → its part
    district_sum: target_levels.DistrictSum | None = None  # a level's 区县合计

    @property
    def status_label(self) -> str:
        return label(TARGET_STATUSES, self.status)

    @property
    def expected_progress(self) -> float | None:
        """时序进度要求: the pace as a share of the threshold (what ``progress`` should be by now),
        to 0.0001; None without a pace (growth before its deadline year, no data)."""
        if self.pace is None or not self.threshold:
            return None
        return round(self.pace / self.threshold, 4)

    def as_json(self) -> dict:
        out = {
            "id": self.id, "jurisdiction": self.jurisdiction, "text": self.text, "metric": self.metric,
            "unit": self.unit, "threshold": _plain(self.threshold), "deadline": self.deadline.isoformat(),
            "window": self.window, "value": self.value, "progress": self.progress, "status": self.status,
            "years": self.years, "by_town": self.by_town, "undated": len(self.undated),
            "unit_mismatch": len(self.unit_mismatch), "unmeasured": len(self.unmeasured)}
        if self.window != "per_year":
            del out["years"]
        if self.level is not None:
            out["level"] = self.level
            out["by_district"] = self.by_district
            out["district_sum"] = self.district_sum.as_json() if self.district_sum else None
        return out


@dataclass
class Report:
    as_of: dt.date
    targets: list[TargetResult]
    town_names: dict[str, str]
    district_names: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "targets": [t.as_json() for t in self.targets]}


def parse_as_of(value: str | None) -> dt.date:
    """``YYYY-MM-DD`` (default today); bad input raises ``InvalidInput``."""
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"统计日期应为 YYYY-MM-DD：{value}", {"parameter": "as_of", "value": value}) from None


def report(session: Session, scope: Scope, *, as_of: dt.date | None = None,
           district: str | None = None, target_id: str | None = None,
           with_projects: bool | None = None) -> Report:
    """Every target the scope may see (of ``district`` and its zones when given), as of a date.

    The figures are summed in PostgreSQL (``registry.target_sums``); ``with_projects`` (default:
    when one ``target_id`` is asked for, as the target's page does) also lists every counted
    project in ``counted``, reading the projects one by one. Cached per change stamp of the
    projects (``registry.cache``) and version of the targets.
    """
    as_of = as_of or dt.date.today()
    with_projects = target_id is not None if with_projects is None else with_projects
    version = tuple(session.execute(_VERSION).one())
    key = ("targets", cache.scope_key(scope), as_of, district, target_id, with_projects, version)
    return cache.cached(session, key, lambda: _report(session, scope, as_of, district, target_id, with_projects))


# Anything that changes a target, a jurisdiction or an entry changes this row.
_VERSION = text("SELECT (SELECT max(updated_at) FROM targets), (SELECT count(*) FROM targets), "
                "(SELECT max(id) FROM target_entries), (SELECT max(updated_at) FROM target_jurisdictions)")


def _report(session: Session, scope: Scope, as_of: dt.date, district: str | None,
            target_id: str | None, with_projects: bool) -> Report:
    visible = _jurisdictions(session, scope)
    by_level = (target_levels.districts_by_level(session)
                if (district and target_levels.level_of(district))
                or any(j.kind in target_levels.LEVELS for j in visible.values()) else {})
    jurisdictions = {c: j for c, j in visible.items() if _selected(j, district, by_level)}
    query = (select(Target).where(Target.jurisdiction_code.in_(list(jurisdictions)))
             .order_by(Target.jurisdiction_code, Target.position, Target.id))
    if target_id is not None:
        query = query.where(Target.id == target_id)
    targets = list(session.scalars(query))
    if target_id is not None and not targets:
        raise NotFound(f"未找到目标：{target_id}", {"id": target_id})
    companions = _companions(session, [t for t in targets if visible[t.jurisdiction_code].kind
                                       in target_levels.LEVELS], visible, by_level)
    shown = {t.id for t in targets}
    measured = targets + [t for t in {m.id: m for ms in companions.values() for m in ms}.values()
                          if t.id not in shown]
    entries = latest_entries(session, [t.id for t in measured], as_of=as_of)
    baselines = latest_entries(session, [t.id for t in measured])
    towns = _towns(session, scope, {visible[t.jurisdiction_code] for t in measured}, by_level)
    areas = {code: _has_area(session, visible[code], by_level)
             for code in dict.fromkeys(t.jurisdiction_code for t in measured)}
    projects: dict[str, list[tm.Candidate]] = {}
    by_sql = [t for t in measured if areas[t.jurisdiction_code] and t.metric != "reported"
              and not (with_projects and visible[t.jurisdiction_code].kind not in target_levels.LEVELS)]
    summed_in_sql = _sums_in_sql(session, by_sql, visible, scope, as_of)
    towns_of: dict[str, list[str]] = {}
    for code, (_name, district_code) in towns.items():
        towns_of.setdefault(district_code, []).append(code)
    results: dict[str, TargetResult] = {}
    for target in measured:
        jurisdiction = visible[target.jurisdiction_code]
        level = jurisdiction.kind if jurisdiction.kind in target_levels.LEVELS else None
        if not areas[jurisdiction.code] or target.metric == "reported":
            summed = None  # no_data without an area; a reported figure is entered, not summed
        elif target.id not in summed_in_sql:  # with_projects, a district's or zone's target
            if jurisdiction.code not in projects:
                projects[jurisdiction.code] = _projects(session, scope, jurisdiction)
            summed = _from_candidates(projects[jurisdiction.code], scope)
        else:
            summed = _summed(summed_in_sql[target.id])
        # a district lists all its towns (zeros too); a zone or a level only the towns that add to it
        listed = towns_of.get(jurisdiction.code, [])
        result = _evaluate(target, jurisdiction, summed, scope, as_of, towns=listed,
                           value_entry=entries.get((target.id, "value")),
                           baseline_entry=baselines.get((target.id, "baseline")))
        if level is not None:
            result.level = level
            result.by_district = _by_district(result, by_level.get(jurisdiction.code, []), towns)
        results[target.id] = result
    for target in targets:  # the districts' targets are measured: add them up beside each level's
        if target.id in companions:
            results[target.id].district_sum = target_levels.district_sum(
                target, by_level.get(target.jurisdiction_code, []),
                [results[m.id] for m in companions[target.id]], rounding=_round)
    level_districts = {d for t in targets for d in by_level.get(t.jurisdiction_code, [])}
    return Report(as_of, [results[t.id] for t in targets], {code: name for code, (name, _d) in towns.items()},
                  _district_names(session, level_districts))


def _jurisdictions(session: Session, scope: Scope) -> dict[str, TargetJurisdiction]:
    """Every jurisdiction whose targets the scope may read (migration 0018 holds the database to
    the same rule: ``eqreg_target_areas()``)."""
    query = select(TargetJurisdiction)
    if scope.limited:
        mine = select(Town.district_code).where(Town.code.in_(scope.town_codes), Town.valid_to.is_(None))
        query = query.where(or_(TargetJurisdiction.code.in_(mine), TargetJurisdiction.parent_code.in_(mine)))
    if scope.district_codes is not None:  # its districts' targets, their zones', the levels it sees whole
        levels = target_levels.covered_levels(session, scope) or set()
        query = query.where(or_(TargetJurisdiction.code.in_(scope.district_codes | levels),
                                TargetJurisdiction.parent_code.in_(scope.district_codes)))
    return {j.code: j for j in session.scalars(query)}


def _selected(jurisdiction: TargetJurisdiction, code: str | None, by_level: dict[str, list[str]]) -> bool:
    """Whether ``jurisdiction`` answers the ``district`` parameter: a district or zone code (it
    and its zones), or a city or province code (it, its districts and their zones; a province's
    cities too)."""
    if not code:
        return True
    level = target_levels.level_of(code)
    if level == "province" and jurisdiction.kind == "city" and jurisdiction.code.startswith(code):
        return True
    inside = {code, *by_level.get(code, [])} if level else {code}
    return jurisdiction.code in inside or jurisdiction.parent_code in inside


def _companions(session: Session, level_targets: list[Target], visible: dict[str, TargetJurisdiction],
                by_level: dict[str, list[str]]) -> dict[str, list[Target]]:
    """Level target id → the district targets of the same measure in its districts."""
    if not level_targets:
        return {}
    districts = [c for c, j in visible.items() if j.kind == "district"]
    candidates = session.execute(
        select(Target, TargetJurisdiction).join(TargetJurisdiction, TargetJurisdiction.code == Target.jurisdiction_code)
        .where(TargetJurisdiction.code.in_(districts))
        .order_by(Target.jurisdiction_code, Target.position, Target.id)).all()
    return {t.id: target_levels.matching_district_targets(t, by_level.get(t.jurisdiction_code, []), candidates)
            for t in level_targets}


def _by_district(result: TargetResult, inside: list[str], towns: dict[str, tuple[str, str]]) -> dict[str, float]:
    """A level target's current value split by district (its towns' parts added up)."""
    out = dict.fromkeys(inside, 0.0)
    for code, value in result.by_town.items():
        district = towns[code][1] if code in towns else code[:6]
        if district in out:
            out[district] += value
    return {code: _round(result.metric, value) for code, value in out.items()}


def _district_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return dict(session.execute(select(District.code, District.name).where(District.code.in_(codes))).all())


def _towns(session: Session, scope: Scope, jurisdictions, by_level: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    """Current towns (code → name, district) of the jurisdictions' districts that the scope sees."""
    districts = set()
    for j in jurisdictions:
        if j.kind in target_levels.LEVELS:
            districts.update(by_level.get(j.code, []))
        else:
            districts.add(j.code if j.kind == "district" else j.parent_code)
    districts.discard(None)
    query = select(Town.code, Town.name, Town.district_code).where(
        Town.valid_to.is_(None), Town.district_code.in_(districts))
    if scope.limited:
        query = query.where(Town.code.in_(scope.town_codes))
    return {row.code: (row.name, row.district_code) for row in session.execute(query.order_by(Town.code))}


def _sql():
    return sqlfiles.load("target_projects")


def _has_area(session: Session, jurisdiction: TargetJurisdiction, by_level: dict[str, list[str]]) -> bool:
    """Whether the registry has an area for the jurisdiction (else its targets are no_data)."""
    if jurisdiction.kind == "zone":
        return jurisdiction.geom is not None
    if jurisdiction.kind in target_levels.LEVELS:
        return bool(by_level.get(jurisdiction.code))
    return session.get(District, jurisdiction.code) is not None


def _projects(session: Session, scope: Scope, jurisdiction: TargetJurisdiction) -> list[tm.Candidate]:
    """The jurisdiction's live projects, one by one."""
    rows = session.execute(_sql(), {"code": jurisdiction.code, "zone": jurisdiction.kind == "zone",
                                    **scope.sql_params()}).mappings()
    return [tm.Candidate(**row) for row in rows]


Summer = Callable[[Target, list[tm.Window], bool], tuple[target_sums.Sums, list[CountedProject]]]


def _sums_in_sql(session: Session, targets: list[Target], visible: dict[str, TargetJurisdiction],
                 scope: Scope, as_of: dt.date) -> dict[str, target_sums.Sums]:
    """Target id → its sums, one statement per measure and kind of jurisdiction: the targets
    that measure the same (metric, unit, filter, windows) in jurisdictions of one kind — a
    province's district targets of one kind — are summed together, grouped by jurisdiction."""
    batches: dict[tuple, list[Target]] = {}
    for target in targets:
        spans, per_year = _windows(target, as_of)
        key = (visible[target.jurisdiction_code].kind, target.metric, target.unit,
               json.dumps(target.filter or {}, sort_keys=True, ensure_ascii=False), tuple(spans), per_year)
        batches.setdefault(key, []).append(target)
    units = target_sums.stored_units(session) if any(t.metric == "sum_quantity" for t in targets) else []
    out = {}
    for (kind, metric, unit, _filter, spans, per_year), batch in batches.items():
        found = target_sums.sums_of(session, codes=sorted({t.jurisdiction_code for t in batch}), kind=kind,
                                    metric=metric, unit=unit, filter_=batch[0].filter or {}, spans=list(spans),
                                    per_year=per_year, scope=scope, units=units)
        taken = set()
        for target in batch:  # two targets of one jurisdiction with one measure: a copy each
            code = target.jurisdiction_code
            out[target.id] = copy.deepcopy(found[code]) if code in taken else found[code]
            taken.add(code)
    return out


def _summed(sums: target_sums.Sums) -> Summer:
    return lambda _target, _spans, _per_year: (sums, [])


def _from_candidates(projects: list[tm.Candidate], scope: Scope) -> Summer:
    """The per-project path: the rules of ``target_measures`` applied to each project in turn."""
    def summed(target: Target, spans: list[tm.Window], per_year: bool):
        metric, filter_ = target.metric, target.filter or {}
        stages = tm.stages_of(metric, filter_)
        out, counted = target_sums.Sums(), []
        current = spans[-1] if spans else None
        for project in projects:
            if not tm.matches(project, filter_, stages):
                continue
            date = tm.counting_date(project, stages)
            if date is None:
                out.undated.append(_listed(project))
                continue
            span = next((w for w in spans if w.start <= date <= w.end), None)
            if span is None:
                continue
            try:
                part = tm.contribution(metric, target.unit, project)
            except tm.UnitMismatch:
                out.unit_mismatch.append(_listed(project, unit=project.unit))
                continue
            except tm.Unmeasured:
                out.unmeasured.append(_listed(project, unit=project.unit))
                continue
            amount = _scoped(part, scope)
            key = target_sums.window_key(span, per_year)
            out.totals[key] = out.totals.get(key, 0.0) + amount
            if span == current:
                for town, value in part.by_town.items():
                    if not scope.limited or town in scope.town_codes:
                        out.by_town[town] = out.by_town.get(town, 0.0) + value
            if amount or not scope.limited:  # a town sees the projects that add to its part
                counted.append(CountedProject(project.id, project.code, project.name, date,
                                              _round(metric, amount)))
        return out, counted
    return summed


def _evaluate(target: Target, jurisdiction: TargetJurisdiction, summed: Summer | None,
              scope: Scope, as_of: dt.date, *, towns: list[str], value_entry, baseline_entry) -> TargetResult:
    metric = target.metric
    result = TargetResult(
        id=target.id, jurisdiction=jurisdiction.code, jurisdiction_name=jurisdiction.name, text=target.text,
        metric=metric, unit=target.unit or tm.DEFAULT_UNITS.get(metric), threshold=float(target.threshold),
        deadline=target.deadline, window=target.window)
    if metric == "reported":
        _reported(result, value_entry, as_of)
        return result
    if summed is None:
        return result  # no_data: no boundary for a zone, or a district the registry does not hold
    if metric == "growth_vs_baseline":
        baseline = baseline_entry.value if baseline_entry is not None else target.file_baseline
        result.baseline = None if baseline is None else float(baseline)
    spans, per_year = _windows(target, as_of)
    sums, result.counted = summed(target, spans, per_year)
    result.undated, result.unit_mismatch, result.unmeasured = sums.undated, sums.unit_mismatch, sums.unmeasured
    current = spans[-1] if spans else None
    result.by_town = {code: _round(metric, sums.by_town.get(code, 0.0))
                      for code in sorted(set(towns) | set(sums.by_town))
                      if not scope.limited or code in scope.town_codes}
    raw = sums.totals.get(target_sums.window_key(current, per_year), 0.0) if current else 0.0
    if per_year:
        result.years = {str(w.year): _round(metric, sums.totals.get(w.year, 0.0)) for w in spans}
    _finish(result, target, raw, current, as_of)
    return result


def _windows(target: Target, as_of: dt.date) -> tuple[list[tm.Window], bool]:
    """The target's windows as of the date and whether they are per year (keys of ``Sums.totals``)."""
    if target.metric == "growth_vs_baseline":
        year = tm.growth_year(target.deadline, as_of)
        return [tm.Window(year, dt.date(year, 1, 1), min(dt.date(year, 12, 31), as_of))], False
    return tm.windows(target.window, target.deadline, as_of), target.window == "per_year"


def _finish(result: TargetResult, target: Target, raw: float, current: tm.Window | None, as_of: dt.date) -> None:
    threshold = result.threshold
    if target.metric == "growth_vs_baseline":
        if not result.baseline:
            result.status = "needs_baseline"
            return
        result.value = round(raw / result.baseline - 1, 4)
        direct = as_of.year < target.deadline.year  # DESIGN §9: the as-of year's growth, no pace
        # In the deadline year the value grows from −1 (nothing yet) to the year's growth: on pace
        # is the year's target investment, baseline × (1 + threshold), spread over the year so far.
        year_start = dt.date(target.deadline.year, 1, 1)
        result.pace = None if direct else (
            (1 + threshold) * tm.elapsed_share(year_start, target.deadline, as_of) - 1)
    else:
        result.value = _round(target.metric, raw)
        if target.window == "per_year":
            year = current.year if current else tm.PLAN_START.year
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
        else:
            start, end = tm.PLAN_START, target.deadline
        result.pace = threshold * tm.elapsed_share(start, end, as_of)
    result.progress = round(result.value / threshold, 4) if threshold else None
    result.status = tm.status(value=result.value, threshold=threshold, deadline=target.deadline,
                              as_of=as_of, pace=result.pace)
    if result.pace is not None:
        result.pace = round(result.pace, 4)


def _reported(result: TargetResult, entry, as_of: dt.date) -> None:
    if entry is None:
        return  # no_data until the bureau enters a value
    result.value = round(float(entry.value), 4)
    result.reported = {"value": result.value, "as_of": entry.as_of.isoformat(), "by": entry.entered_by}
    result.pace = round(result.threshold * tm.elapsed_share(tm.PLAN_START, result.deadline, as_of), 4)
    result.progress = round(result.value / result.threshold, 4) if result.threshold else None
    result.status = tm.status(value=result.value, threshold=result.threshold, deadline=result.deadline,
                              as_of=as_of, pace=result.pace)


def _scoped(part: tm.Contribution, scope: Scope) -> float:
    if not scope.limited:
        return part.total
    return sum(v for town, v in part.by_town.items() if town in scope.town_codes)


def _listed(project: tm.Candidate, **extra) -> dict:
    return {"id": project.id, "code": project.code, "name": project.name, **extra}


def _round(metric: str, value: float):
    """Counts as integers, quantities to 0.001, km and 万元 to 0.01 (DESIGN §5a)."""
    if metric == "count":
        return int(round(value))
    return round(value, 3 if metric == "sum_quantity" else 2)


def _plain(number: float):
    return int(number) if float(number).is_integer() else number
