"""Project filters shared by the API, exports and maps: small functions returning clauses."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, Integer, cast, exists, func, or_, select
from sqlalchemy.orm import aliased

from geo.admin_codes import town_code
from registry.errors import InvalidInput
from registry.models import Project, ProjectTown
from registry.vocab import domain_code, stage_code


@dataclass(frozen=True)
class ProjectFilters:
    town: str | None = None  # 9-digit code (or its 12-digit land-survey form): any share in that town
    domain: str | None = None  # code or Chinese label
    stage: str | None = None  # code or Chinese label
    year: int | None = None  # the year of ``year_of``
    year_of: str = "planned_start"  # planned_start (the code's year when unplanned) | actual_start | actual_end
    is_key: bool | None = None  # 重点项目: True, False or either
    bbox: tuple[float, float, float, float] | None = None  # west, south, east, north (EPSG:4326)
    q: str | None = None  # text in name, code, owner or address

    @classmethod
    def parse(cls, args) -> "ProjectFilters":
        """From a mapping of strings (query args, CLI options); bad values raise InvalidInput."""
        values = {f.name: (args.get(f.name) or None) for f in fields(cls)}
        values["year_of"] = values["year_of"] or "planned_start"
        if values["year_of"] not in YEAR_OF:
            _bad("year_of", values["year_of"])
        if isinstance(values["is_key"], str):
            flag = values["is_key"].strip().lower()
            if flag not in _TRUE + _FALSE:
                _bad("is_key", values["is_key"])
            values["is_key"] = flag in _TRUE
        if values["town"]:
            values["town"] = town_code(values["town"])
        if values["domain"]:
            values["domain"] = domain_code(values["domain"]) or _bad("domain", values["domain"])
        if values["stage"]:
            values["stage"] = stage_code(values["stage"]) or _bad("stage", values["stage"])
        if values["year"]:
            try:
                values["year"] = int(values["year"])
            except (TypeError, ValueError):
                _bad("year", values["year"])
            if not 1 <= values["year"] <= 9999:
                _bad("year", values["year"])
        if values["bbox"] and isinstance(values["bbox"], str):
            try:
                west, south, east, north = (float(v) for v in values["bbox"].split(","))
            except ValueError:
                _bad("bbox", values["bbox"])
            if not (all(map(math.isfinite, (west, south, east, north))) and west <= east and south <= north):
                _bad("bbox", values["bbox"])
            values["bbox"] = (west, south, east, north)
        return cls(**values)

    def clauses(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on ``Project`` (soft-deleted projects are always left out)."""
        out: list[ColumnElement[bool]] = [Project.deleted_at.is_(None)]
        if self.town:
            # An alias, correlated to Project only: queries that join project_towns themselves
            # (figures by town) must not correlate it away (no FROM left).
            share = aliased(ProjectTown)
            out.append(exists(select(share.project_id).where(
                share.project_id == Project.id, share.town_code == self.town).correlate(Project)))
        if self.domain:
            out.append(Project.domain_code == self.domain)
        if self.stage:
            out.append(Project.stage == self.stage)
        if self.year:
            out.append(project_year(self.year_of) == self.year)
        if self.is_key is not None:
            out.append(Project.is_key.is_(self.is_key))
        if self.bbox:
            out.append(Project.geom.intersects(func.ST_MakeEnvelope(*self.bbox, 4326)))
        if self.q:
            pattern = f"%{self.q}%"
            out.append(or_(Project.name.ilike(pattern), Project.code.ilike(pattern),
                           Project.owner.ilike(pattern), Project.address.ilike(pattern)))
        return out


YEAR_OF = {"planned_start": "计划开工年份（未填时取项目代码中的年份）", "actual_start": "实际开工年份",
           "actual_end": "实际竣工年份"}
_TRUE = ("1", "true", "yes", "on", "是", "y")
_FALSE = ("0", "false", "no", "off", "否", "n")


def project_year(year_of: str = "planned_start") -> ColumnElement[int]:
    """A project's year: its planned start (else the year in its project code), or the year of
    its actual start or completion (NULL when that date is not known)."""
    if year_of == "actual_start":
        return cast(func.extract("year", Project.actual_start), Integer)
    if year_of == "actual_end":
        return cast(func.extract("year", Project.actual_end), Integer)
    return func.coalesce(cast(func.extract("year", Project.planned_start), Integer),
                         cast(func.substr(Project.code, 1, 4), Integer))


def _bad(name: str, value) -> None:
    labels = {"domain": "领域", "stage": "项目阶段", "year": "年份", "bbox": "范围 bbox",
              "year_of": "年份口径 year_of（可选 planned_start、actual_start、actual_end）",
              "is_key": "重点项目筛选 is_key（应为 true 或 false）"}
    raise InvalidInput(f"无法识别的{labels[name]}：{value}", {"parameter": name, "value": value})


def domain_codes(domains: str | None) -> list[str] | None:
    """The maps' ``domains`` parameter: ``None`` (every domain) or the codes of a comma-separated
    list of codes or labels (empty: none); an unknown one raises InvalidInput."""
    if domains is None:
        return None
    codes = []
    for item in filter(None, (d.strip() for d in domains.split(","))):
        code = domain_code(item)
        if code is None:
            raise InvalidInput(f"无法识别的领域：{item}", {"parameter": "domains", "value": item})
        codes.append(code)
    return codes
