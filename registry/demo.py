"""``eqreg demo``: the demo district 薛城区 with approximate towns and an invented project library;
``eqreg demo --districts 370403,370784,371502`` adds 安丘市 and 东昌府区 (other cities) and two
viewers, for the city and province roll-ups.

The boundaries (data/boundaries/xuecheng-demo-towns.geojson — 演示数据：近似边界，非官方) go through
the boundary service, the projects through the real spreadsheet import and the plan targets
(data/targets/<code>.yaml: each district's published targets; with several districts an invented
city and province file too, so the roll-up shows 区县合计 beside them) through the target loader,
so the demo exercises what a bureau would do on its first day. Loading twice changes nothing.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.boundaries import load_boundaries
from registry.demo_library import XUECHENG, LibraryMaker, Place, Town
from registry.errors import Conflict, InvalidInput
from registry.import_report import ImportReport
from registry.importing import import_projects

log = logging.getLogger(__name__)

DEMO_DISTRICT = "370403"
BOUNDARIES = Path(__file__).resolve().parents[1] / "data" / "boundaries"
DEMO_TOWNS = BOUNDARIES / "xuecheng-demo-towns.geojson"
DEMO_WORKBOOK = "xuecheng-demo-projects.xlsx"
# One target file per jurisdiction, named by its code (the format of ``eqreg targets load``).
DEMO_TARGETS = Path(__file__).resolve().parents[1] / "data" / "targets"
# The districts ``eqreg demo --districts`` can load (roll-up demo, issue 14): code → (the towns
# file the project ships, made by data/boundaries/make_demo.py; where the projects are made).
DEMO_DISTRICTS = {
    "370403": (DEMO_TOWNS, XUECHENG),
    "370784": (BOUNDARIES / "anqiu-demo-towns.geojson", Place("370784", "安丘市", "潍坊")),
    "371502": (BOUNDARIES / "dongchangfu-demo-towns.geojson", Place("371502", "东昌府区", "聊城")),
}
LABEL = "演示数据：近似边界，非官方 (approximate, not official)"

# One account per role, so a newcomer can sign in and see what each user sees. Demo only:
# the passwords are public (README); a real deployment adds its own with `eqreg users add`.
DEMO_USERS = [
    # username, role, towns, display name, password
    ("admin", "admin", (), "演示管理员", "admin-demo"),
    ("fagaiju", "bureau", (), "区发改局（演示）", "bureau-demo"),
    ("guihua", "planner", (), "规划人员（演示）", "planner-demo"),
    ("taozhuang", "town", ("370403104",), "陶庄镇（演示）", "town-demo"),
]
# With several districts, viewers to see the roll-up: username, jurisdiction, display name, password.
ROLLUP_USERS = [
    ("shandong", {"provinces": ["37"]}, "省级查看（演示）", "viewer-demo"),
    ("zaozhuang", {"cities": ["3704"]}, "枣庄市查看（演示）", "viewer-demo"),
]


@dataclass
class DemoResult:
    """What ``load_demo`` did: towns and projects loaded now (0 when they were already there)."""
    district_code: str = DEMO_DISTRICT
    towns_loaded: int = 0
    projects_imported: int = 0
    already_loaded: bool = False
    report: ImportReport | None = None
    notes: list[str] = field(default_factory=list)


def load_demo(session: Session, *, seed: int = 2024, count: int = 300, actor: str = "demo",
              district: str = DEMO_DISTRICT) -> DemoResult:
    """Load a demo district (default 薛城区; any of ``DEMO_DISTRICTS``) and ``count`` projects
    generated from ``seed``, unless already there.

    Refuses (``Conflict``) when the district already has boundaries that are not the demo's: the
    demo must never overwrite a bureau's real data. Commits through the boundary and import services.
    """
    towns_file, place = DEMO_DISTRICTS[district]
    result = DemoResult(district_code=district)
    sources = set(session.execute(text(
        "SELECT DISTINCT source FROM towns WHERE district_code = :d AND valid_to IS NULL"),
        {"d": district}).scalars())
    if sources - {towns_file.name}:
        raise Conflict(f"{place.name}（{district}）已有正式边界，不加载演示数据", {"sources": sorted(map(str, sources))})
    if not sources:
        report = load_boundaries(session, towns_file, level="town", actor=actor)
        result.towns_loaded = len(report.loaded)
    if _project_count(session, district) > 0:
        result.already_loaded = result.towns_loaded == 0
        result.notes.append(f"{place.name}已有项目，未再生成演示项目")
        return result
    workbook = demo_workbook(demo_towns(session, district), seed=seed, count=count, place=place)
    report = import_projects(session, io.BytesIO(workbook), filename=DEMO_WORKBOOK if district == DEMO_DISTRICT
                             else f"{district}-demo-projects.xlsx", district_code=district, actor=actor)
    if report.errors:
        # the generator and the validator disagree: a bug, not a user mistake
        log.error("demo import rejected rows: %s", [p.to_dict() for p in report.errors[:5]])
    result.projects_imported = report.imported
    result.report = report
    return result


def load_demo_targets(session: Session, districts: list[str], *, levels: bool = False,
                      actor: str = "demo") -> list[str]:
    """Load the shipped target files of ``districts`` (and with ``levels`` of their cities and
    provinces) whose jurisdiction has no targets yet: a plan already there, the bureau's or an
    earlier demo's, is never touched. Returns the codes loaded, in order."""
    from registry.scope import Scope
    from registry.targets import TargetJurisdiction, load_file

    codes = list(districts)
    if levels:  # 370403 → 枣庄市 3704, 山东省 37
        codes += list(dict.fromkeys(code[:n] for n in (4, 2) for code in districts))
    loaded = []
    for code in codes:
        path = DEMO_TARGETS / f"{code}.yaml"
        if path.exists() and session.get(TargetJurisdiction, code) is None:
            load_file(session, Scope.system(actor), path.read_bytes())
            loaded.append(code)
    return loaded


def parse_districts(value: str | None) -> list[str]:
    """``--districts 370403,370784,371502``: codes of ``DEMO_DISTRICTS``, in the order given."""
    codes = [code.strip() for code in (value or "").split(",") if code.strip()]
    unknown = [code for code in codes if code not in DEMO_DISTRICTS]
    if unknown or not codes:
        raise InvalidInput(f"没有这些演示区县：{'、'.join(unknown) or '（空）'}（可选：{'、'.join(DEMO_DISTRICTS)}）",
                           {"parameter": "districts", "value": value})
    return list(dict.fromkeys(codes))


def ensure_demo_users(session: Session, *, actor: str = "demo", rollup: bool = False) -> list[str]:
    """Create the demo accounts that are missing (with ``rollup`` the viewers too); returns the
    usernames created."""
    from registry.accounts import create_user
    existing = set(session.execute(text("SELECT username FROM users")).scalars())
    created = []
    for username, role, towns, display_name, password in DEMO_USERS:
        if username not in existing:
            create_user(session, actor=actor, username=username, role=role, password=password,
                        towns=towns, display_name=display_name)
            created.append(username)
    for username, reach, display_name, password in ROLLUP_USERS if rollup else ():
        if username not in existing:
            create_user(session, actor=actor, username=username, role="viewer", password=password,
                        display_name=display_name, **reach)
            created.append(username)
    return created


def demo_towns(session: Session, district: str = DEMO_DISTRICT) -> list[Town]:
    """A demo district's current towns as stored (EPSG:4326), in code order."""
    rows = session.execute(text("SELECT code, name, ST_AsBinary(geom) FROM towns "
                                "WHERE district_code = :d AND valid_to IS NULL ORDER BY code"),
                           {"d": district}).all()
    return [Town(code, name, shapely.from_wkb(bytes(wkb))) for code, name, wkb in rows]


def demo_workbook(towns: list[Town], *, seed: int, count: int, place: Place = XUECHENG) -> bytes:
    """The demo library as an XLSX in the import template (same seed, same bytes of data)."""
    from openpyxl import Workbook

    from registry.template import COLUMNS

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("项目")
    sheet.append([column.header for column in COLUMNS])
    for record in LibraryMaker(towns, seed, place).records(count):
        sheet.append([record.get(column.key) for column in COLUMNS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _project_count(session: Session, district: str) -> int:
    return session.execute(text("SELECT count(*) FROM projects WHERE district_code = :d AND deleted_at IS NULL"),
                           {"d": district}).scalar_one()
