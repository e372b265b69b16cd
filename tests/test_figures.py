"""Per-town figures, stats and totals (DESIGN §3), checked against values computed here with
shapely + pyproj from the inserted sample — not by re-running the registry's SQL."""
from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
from pyproj import Geod
from shapely import wkt as shapely_wkt
from shapely.geometry import box
from sqlalchemy import text

from conftest import GRID_TOWNS, SAMPLE_PROJECTS, insert_sample_projects
from registry import figures, sqlfiles
from registry.errors import InvalidInput
from registry.filters import ProjectFilters
from registry.scope import Scope
from registry.vocab import DOMAINS, STAGES

GEOD = Geod(ellps="WGS84")
TOWN_BOXES = {code: box(west, 35.0, west + 0.1, 35.1) for code, _, west in GRID_TOWNS}


def geodesic_measure(geom) -> float:
    """Metres for lines, square metres for polygons (EPSG:4326 on the WGS84 ellipsoid)."""
    if geom.geom_type in ("LineString", "MultiLineString"):
        return GEOD.geometry_length(geom)
    return abs(GEOD.geometry_area_perimeter(geom)[0])


def expected_shares(wkt: str) -> dict[str, float]:
    geom = shapely_wkt.loads(wkt)
    if geom.geom_type == "Point":
        return {next(c for c, b in TOWN_BOXES.items() if b.covers(geom)): 1.0}
    parts = {c: geodesic_measure(geom.intersection(b)) for c, b in TOWN_BOXES.items()}
    parts = {c: m for c, m in parts.items() if m > 0}
    return {c: m / sum(parts.values()) for c, m in parts.items()}


def expected_by_town() -> dict[str, dict]:
    out = defaultdict(lambda: {"count": 0, "total": 0.0, "completed": 0.0, "stage": Counter(),
                               "domain": Counter(), "km": defaultdict(float)})
    for code, _, domain, category, stage, wkt, total, completed, _, deleted in SAMPLE_PROJECTS:
        if deleted:
            continue
        geom = shapely_wkt.loads(wkt)
        for town, share in expected_shares(wkt).items():
            t = out[town]
            t["count"] += 1
            t["total"] += total * share
            t["completed"] += (completed or 0) * share
            t["stage"][stage] += 1
            t["domain"][domain] += 1
            if geom.geom_type == "LineString":
                t["km"][category or "未分类"] += GEOD.geometry_length(geom.intersection(TOWN_BOXES[town])) / 1000
    return out


@pytest.fixture
def sample(db, grid_district):
    return insert_sample_projects(db)


def test_town_figures_apportion_money_by_share(db, sample):
    expected = expected_by_town()
    got = {t["code"]: t for t in figures.town_figures(db, Scope.system())}
    assert list(got) == [c for c, _, _ in GRID_TOWNS]
    for code, want in expected.items():
        assert got[code]["project_count"] == want["count"]
        assert got[code]["total_investment"] == pytest.approx(want["total"], abs=0.02)
        assert got[code]["completed_investment"] == pytest.approx(want["completed"], abs=0.02)


def test_town_density_uses_the_geodesic_town_area(db, sample):
    expected = expected_by_town()
    for town in figures.town_figures(db, Scope.system()):
        area_km2 = geodesic_measure(TOWN_BOXES[town["code"]]) / 1e6
        assert town["area_km2"] == pytest.approx(area_km2, rel=1e-4)
        assert town["density"] == pytest.approx(expected[town["code"]]["total"] / area_km2, abs=0.02)


def test_completion_rate_is_apportioned_completed_over_apportioned_total(db, sample):
    expected = expected_by_town()
    for town in figures.town_figures(db, Scope.system()):
        want = expected[town["code"]]
        assert town["completion_rate"] == pytest.approx(want["completed"] / want["total"], abs=1e-4)


def test_counts_by_stage_and_domain_leave_out_deleted_projects(db, sample):
    expected = expected_by_town()
    for town in figures.town_figures(db, Scope.system()):
        assert town["by_stage"] == dict(expected[town["code"]]["stage"])
        assert town["by_domain"] == dict(expected[town["code"]]["domain"])


def test_pipeline_km_is_line_length_inside_the_town_by_category(db, sample):
    expected = expected_by_town()
    for town in figures.town_figures(db, Scope.system()):
        want = expected[town["code"]]["km"]
        assert town["pipeline_km"].keys() == want.keys()
        for category, km in want.items():
            assert town["pipeline_km"][category] == pytest.approx(km, abs=0.002)


def test_a_town_without_projects_has_zero_figures(db, grid_district):
    town = figures.town_figures(db, Scope.system())[0]
    assert (town["project_count"], town["total_investment"], town["density"]) == (0, 0, 0)
    assert town["completion_rate"] is None
    assert town["by_stage"] == {} and town["pipeline_km"] == {}


def test_a_town_scope_sees_only_its_towns(db, sample):
    scope = Scope(actor="乙镇用户", role="town", town_codes=frozenset({"370499002"}))
    assert [t["code"] for t in figures.town_figures(db, scope)] == ["370499002"]
    assert figures.town_figures(db, scope, district_code="370401") == []


def test_stats_by_domain_for_a_town_scope_count_only_its_share_of_money(db, sample):
    scope = Scope(actor="乙镇用户", role="town", town_codes=frozenset({"370499002"}))
    want = defaultdict(lambda: [0, 0.0])
    for code, _, domain, _, _, wkt, total, _, _, deleted in SAMPLE_PROJECTS:
        share = expected_shares(wkt).get("370499002")
        if share and not deleted:
            want[domain][0] += 1
            want[domain][1] += total * share
    got = {r["key"]: r for r in figures.stats(db, scope, "domain")}
    assert got.keys() == want.keys()
    for domain, (count, total) in want.items():
        assert got[domain]["project_count"] == count
        assert got[domain]["total_investment"] == pytest.approx(total, abs=0.02)
        assert got[domain]["label"]  # Chinese label from the vocabulary


def test_stats_by_stage_for_the_district_sum_whole_projects(db, sample):
    want = defaultdict(float)
    for _, _, _, _, stage, _, total, _, _, deleted in SAMPLE_PROJECTS:
        if not deleted:
            want[stage] += total
    got = {r["key"]: r["total_investment"] for r in figures.stats(db, Scope.system(), "stage")}
    assert got == pytest.approx(dict(want))


def test_stats_by_year_use_planned_start_else_the_code_year(db, sample):
    want = Counter()
    for code, _, _, _, _, _, _, _, planned, deleted in SAMPLE_PROJECTS:
        if not deleted:
            want[int((planned or code)[:4])] += 1
    got = {r["key"]: r["project_count"] for r in figures.stats(db, Scope.system(), "year")}
    assert got == dict(want)


def test_stats_by_town_match_town_figures_and_respect_filters(db, sample):
    expected = expected_by_town()
    by_town = {r["key"]: r for r in figures.stats(db, Scope.system(), "town")}
    assert {c: r["project_count"] for c, r in by_town.items()} == {c: e["count"] for c, e in expected.items()}
    municipal = {r["key"]: r for r in figures.stats(db, Scope.system(), "town",
                                                      ProjectFilters(domain="municipal"))}
    line_shares = expected_shares(SAMPLE_PROJECTS[1][5])
    assert municipal["370499003"]["total_investment"] == pytest.approx(800 * line_shares["370499003"], abs=0.02)
    assert municipal["370499001"]["project_count"] == 2


def test_stats_reject_an_unknown_grouping(db, sample):
    with pytest.raises(InvalidInput):
        figures.stats(db, Scope.system(), "owner")


def test_totals_for_district_and_town_scope(db, sample):
    live = [p for p in SAMPLE_PROJECTS if not p[9]]
    district = figures.totals(db, Scope.system())
    assert district["project_count"] == len(live)
    assert district["town_count"] == 3
    assert district["total_investment"] == pytest.approx(sum(p[6] for p in live))
    assert district["completion_rate"] == pytest.approx(
        sum(p[7] or 0 for p in live) / sum(p[6] for p in live), abs=1e-4)
    scope = Scope(actor="丙镇用户", role="town", town_codes=frozenset({"370499003"}))
    town = figures.totals(db, scope)
    assert town["town_count"] == 1
    assert town["total_investment"] == pytest.approx(expected_by_town()["370499003"]["total"], abs=0.02)


def _naive_town_figures(db, towns: list[str], districts: list[str] | None = None) -> dict[str, dict]:
    """Per-town figures counted here in Python from the stored shares, row by row."""
    out = {code: {"project_count": 0, "total": 0.0, "completed": 0.0, "by_stage": Counter(),
                  "by_domain": Counter(), "km": defaultdict(float)} for code in towns}
    rows = db.execute(text("""
        SELECT pt.town_code, pt.district_code, pt.share, pt.length_km, p.stage, p.domain_code, p.category,
               p.total_investment::float8 AS total, p.completed_investment::float8 AS completed
        FROM project_towns pt JOIN projects p ON p.id = pt.project_id WHERE p.deleted_at IS NULL"""))
    for row in rows:
        if row.town_code not in out or (districts is not None and row.district_code not in districts):
            continue
        town = out[row.town_code]
        town["project_count"] += 1
        town["total"] += row.total * row.share
        town["completed"] += (row.completed or 0) * row.share
        town["by_stage"][row.stage] += 1
        town["by_domain"][row.domain_code] += 1
        if row.length_km is not None:
            town["km"][row.category or "未分类"] += row.length_km
    return {code: {"project_count": t["project_count"], "total_investment": round(t["total"], 2),
                   "completed_investment": round(t["completed"], 2), "by_stage": dict(t["by_stage"]),
                   "by_domain": dict(t["by_domain"]), "pipeline_km": {c: round(km, 3) for c, km in t["km"].items()}}
            for code, t in out.items()}


def test_town_figures_equal_a_count_in_python_of_every_stage_domain_and_category(db, sample):
    """Every stage of the vocabulary, an uncategorised line, three scopes: the SQL's figures are
    those counted here row by row (the stage columns of town_figures.sql cover registry.vocab)."""
    db.execute(text("UPDATE projects SET stage = 'suspended' WHERE code = '2024-370499-01-01-100004'"))
    db.execute(text("UPDATE projects SET stage = 'cancelled', category = NULL WHERE code = '2024-370499-01-01-100005'"))
    db.execute(text("""
        WITH p AS (INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment, stage)
                   VALUES ('370499', '2024-370499-01-01-100007', '乙镇体育设施', 'sports', '测试单位',
                           ST_GeomFromText('POINT(117.12 35.01)', 4326), 70, 'approval') RETURNING id)
        INSERT INTO project_towns (project_id, town_code, district_code, town_id, share)
        SELECT p.id, t.code, t.district_code, t.id, 1 FROM p, towns t WHERE t.code = '370499002'"""))
    db.execute(text("UPDATE projects SET stage = 'reserve' WHERE code = '2024-370499-01-01-100001'"))
    towns = [code for code, _, _ in GRID_TOWNS]
    scopes = [(Scope.system(), towns, None),
              (Scope(actor="区用户", role="bureau", district_codes=frozenset({"370499"})), towns, ["370499"]),
              (Scope(actor="乙丙", role="town", town_codes=frozenset({"370499002", "370499003"})), towns[1:], None)]
    for scope, seen, districts in scopes:
        got = {t["code"]: {k: t[k] for k in ("project_count", "total_investment", "completed_investment",
                                             "by_stage", "by_domain", "pipeline_km")}
               for t in figures.town_figures(db, scope)}
        assert got == _naive_town_figures(db, seen, districts), scope.actor
    every = figures.town_figures(db, Scope.system())
    assert {s for t in every for s in t["by_stage"]} == set(STAGES)
    assert any("未分类" in t["pipeline_km"] for t in every)


def test_the_town_figures_statement_lists_every_stage_and_domain_of_the_vocabulary():
    """town_figures.sql counts stages and domains in columns of its own: the lists must be the
    vocabulary's (the domains table, seeded from DOMAINS; a code it gains is refused below)."""
    source = sqlfiles.source("town_figures")
    assert re.findall(r"FILTER \(WHERE stage = '(\w+)'\)", source) == list(STAGES)
    assert re.findall(r"FILTER \(WHERE domain_code = '(\w+)'\)", source) == list(DOMAINS)
    assert re.findall(r"'(\w+)', nullif\(sum\(d_(\w+)\), 0\)", source) == [(d, d) for d in DOMAINS]
    assert re.findall(r"'(\w+)', nullif\(sum\(s_(\w+)\), 0\)", source) == [(s, s) for s in STAGES]


def test_a_domain_the_statement_does_not_list_is_refused_not_left_out(db, sample):
    db.execute(text("INSERT INTO domains (code, label_zh, label_en) VALUES ('test_new', '新领域', 'New')"))
    db.execute(text("UPDATE projects SET domain_code = 'test_new' WHERE code = '2024-370499-01-01-100004'"))
    with pytest.raises(RuntimeError, match="domains table"):
        figures.town_figures(db, Scope.system())
