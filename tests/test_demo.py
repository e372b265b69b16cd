"""The demo district and project library (``eqreg demo``)."""
from __future__ import annotations

import io
import json
import runpy
from pathlib import Path

import pytest
import shapely
from openpyxl import load_workbook
from shapely.geometry import shape
from sqlalchemy import text

from registry.demo import DEMO_TOWNS, LABEL, demo_towns, demo_workbook, load_demo
from registry.errors import Conflict
from registry.vocab import DOMAINS, STAGES

XUECHENG_TOWNS = {
    "370403001": "临城街道", "370403002": "兴仁街道", "370403003": "兴城街道", "370403004": "张范街道",
    "370403005": "常庄街道", "370403006": "新城街道", "370403101": "沙沟镇", "370403102": "周营镇",
    "370403103": "邹坞镇", "370403104": "陶庄镇",
}


def read_demo_towns() -> dict:
    return json.loads(DEMO_TOWNS.read_text(encoding="utf-8"))


def test_demo_boundaries_carry_the_real_codes_and_names_and_the_label():
    collection = read_demo_towns()
    assert collection["description"] == LABEL
    assert {f["properties"]["code"]: f["properties"]["name"] for f in collection["features"]} == XUECHENG_TOWNS
    assert all(f["properties"]["note"] == LABEL for f in collection["features"])
    assert LABEL in (Path(DEMO_TOWNS).parent / "README.md").read_text(encoding="utf-8")


def test_demo_towns_are_valid_and_tile_the_district_without_overlaps():
    shapes = [shape(f["geometry"]) for f in read_demo_towns()["features"]]
    assert all(s.is_valid and s.area > 0 for s in shapes)
    union = shapely.union_all(shapes)
    assert sum(s.area for s in shapes) == pytest.approx(union.area, rel=1e-6)
    west, south, east, north = union.bounds
    assert 117.1 <= west < east <= 117.5 and 34.6 <= south < north <= 34.95


def test_demo_boundaries_file_is_what_the_generator_makes():
    generator = runpy.run_path(str(Path(DEMO_TOWNS).with_name("make_demo.py")))
    made = json.loads(json.dumps(generator["feature_collection"]()))
    assert made == read_demo_towns()


def test_load_demo_loads_towns_and_imports_a_varied_library(db):
    result = load_demo(db, count=80)
    assert (result.towns_loaded, result.projects_imported, result.already_loaded) == (10, 80, False)
    assert result.report.problems == []
    rows = db.execute(text("""
        SELECT domain_code, stage, GeometryType(geom), actual_start, actual_end, completed_investment,
               total_investment, (SELECT count(*) FROM project_towns pt WHERE pt.project_id = p.id)
        FROM projects p WHERE district_code = '370403'""")).all()
    assert {r[0] for r in rows} == set(DOMAINS)
    assert {r[1] for r in rows} == set(STAGES)
    assert {r[2] for r in rows} == {"POINT", "LINESTRING", "POLYGON"}
    assert all(r[7] >= 1 for r in rows)  # every project lies in the district
    assert any(r[2] == "LINESTRING" and r[7] > 1 for r in rows)  # pipelines cross towns
    for domain, stage, _, start, end, completed, total, _ in rows:
        if stage in ("construction", "completed"):
            assert start is not None
        if stage == "completed":
            assert end is not None and end >= start and completed == total
        if stage in ("reserve", "approval"):
            assert start is None and end is None


def test_load_demo_twice_changes_nothing(db):
    load_demo(db, count=20)
    before = db.execute(text("SELECT count(*), max(updated_at) FROM projects")).one()
    again = load_demo(db, count=20)
    assert again.already_loaded
    assert (again.towns_loaded, again.projects_imported) == (0, 0)
    assert db.execute(text("SELECT count(*), max(updated_at) FROM projects")).one() == before
    assert db.execute(text("SELECT count(*) FROM towns WHERE district_code = '370403'")).scalar_one() == 10


def test_the_library_is_deterministic_for_a_seed(db):
    load_demo(db, count=1)
    towns = demo_towns(db)
    codes = {}
    for seed in (1, 1, 2):
        sheet = load_workbook(io.BytesIO(demo_workbook(towns, seed=seed, count=30))).worksheets[0]
        codes.setdefault(seed, []).append([row[0] for row in sheet.iter_rows(min_row=2, values_only=True)])
    assert codes[1][0] == codes[1][1]
    assert codes[1][0] != codes[2][0]
    assert len(set(codes[1][0])) == 30


def test_demo_refuses_to_touch_real_boundaries(db):
    db.execute(text("INSERT INTO districts (code, name) VALUES ('370403', '薛城区')"))
    db.execute(text("""INSERT INTO towns (district_code, code, name, geom, area_km2, source)
                       VALUES ('370403', '370403001', '临城街道',
                               ST_Multi(ST_MakeEnvelope(117.2, 34.7, 117.3, 34.8, 4326)), 100, '正式边界.shp')"""))
    with pytest.raises(Conflict):
        load_demo(db, count=5)
    assert db.execute(text("SELECT count(*) FROM projects")).scalar_one() == 0


def test_cli_demo_loads_once_then_reports_it_was_loaded(committed, engine):
    from click.testing import CliRunner
    from web.cli import main
    first = CliRunner().invoke(main, ["demo", "--count", "30"])
    assert first.exit_code == 0, first.output
    assert "10 个镇街边界" in first.output and "非官方" in first.output
    assert "已新增 30 个" in first.output
    second = CliRunner().invoke(main, ["demo", "--count", "30"])
    assert second.exit_code == 0, second.output
    assert "已加载过" in second.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM projects")).scalar_one() == 30


def test_demo_accounts_sign_in_with_their_roles_and_towns(committed, engine):
    from click.testing import CliRunner

    from registry.accounts import authenticate
    from registry.demo import DEMO_USERS
    from web.cli import main

    result = CliRunner().invoke(main, ["demo", "--count", "40"])
    assert result.exit_code == 0, result.output
    assert "taozhuang" in result.output and "town-demo" in result.output
    from sqlalchemy.orm import Session
    with Session(engine) as session:
        for username, role, towns, _, password in DEMO_USERS:
            account = authenticate(session, username=username, password=password, ip="127.0.0.1")
            assert account.role == role
            assert set(account.town_codes) == set(towns)


# --- eqreg demo --districts: three districts in three cities for the roll-ups (issue 14) ---------

def test_the_other_demo_districts_files_are_what_the_generator_makes():
    from registry.demo import DEMO_DISTRICTS
    generator = runpy.run_path(str(Path(DEMO_TOWNS).with_name("make_demo.py")))
    for code, (path, place) in DEMO_DISTRICTS.items():
        shipped = json.loads(path.read_text(encoding="utf-8"))
        assert json.loads(json.dumps(generator["feature_collection"](code))) == shipped
        assert {f["properties"]["district_code"] for f in shipped["features"]} == {code}
        assert {f["properties"]["district_name"] for f in shipped["features"]} == {place.name}
        shapes = [shape(f["geometry"]) for f in shipped["features"]]
        assert all(s.is_valid and s.area > 0 for s in shapes)
        assert sum(s.area for s in shapes) == pytest.approx(shapely.union_all(shapes).area, rel=1e-6)


def test_cli_demo_with_districts_loads_three_cities_and_viewers(committed, engine):
    from click.testing import CliRunner
    from sqlalchemy.orm import Session

    from registry.accounts import authenticate
    from registry.demo import ROLLUP_USERS
    from web.cli import main

    result = CliRunner().invoke(main, ["demo", "--count", "20", "--districts", "370403,370784,371502"])
    assert result.exit_code == 0, result.output
    assert "安丘市（370784）6 个镇街边界" in result.output and "shandong" in result.output
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT d.code, d.name, d.city_code, d.province_code, count(p.id),
                   count(p.id) FILTER (WHERE p.code LIKE '%-' || d.code || '-%'),
                   bool_and(ST_Within(p.geom, ST_Buffer(d.geom, 0.001)))
            FROM districts d LEFT JOIN projects p ON p.district_code = d.code
            GROUP BY d.code ORDER BY d.code""")).all()
    assert [tuple(r) for r in rows] == [("370403", "薛城区", "3704", "37", 20, 20, True),
                                        ("370784", "安丘市", "3707", "37", 20, 20, True),
                                        ("371502", "东昌府区", "3715", "37", 20, 20, True)]
    with Session(engine) as session:
        reach = {}
        for username, _, _, password in ROLLUP_USERS:
            account = authenticate(session, username=username, password=password, ip="127.0.0.1")
            reach[username] = (account.role, sorted(account.district_codes))
    assert reach == {"shandong": ("viewer", ["370403", "370784", "371502"]),
                     "zaozhuang": ("viewer", ["370403"])}
    again = CliRunner().invoke(main, ["demo", "--count", "20", "--districts", "370784"])
    assert again.exit_code == 0 and "安丘市演示数据已加载过" in again.output
    bad = CliRunner().invoke(main, ["demo", "--districts", "370403,999999"])
    assert bad.exit_code != 0 and "没有这些演示区县：999999" in bad.output


def test_plain_demo_makes_no_viewers(committed, engine):
    from click.testing import CliRunner
    from web.cli import main
    result = CliRunner().invoke(main, ["demo", "--count", "5"])
    assert result.exit_code == 0 and "shandong" not in result.output
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM districts")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM users WHERE role = 'viewer'")).scalar_one() == 0


# --- the demo's plan targets (data/targets): the targets page is not empty ------------------------

def test_demo_loads_its_districts_plan_targets_with_computed_values(committed, client_for):
    from click.testing import CliRunner
    from web.cli import main
    result = CliRunner().invoke(main, ["demo"])  # the default demo, as a newcomer runs it
    assert result.exit_code == 0, result.output
    assert "已加载规划目标：370403" in result.output
    targets = {t["id"]: t for t in client_for("bureau").get("/api/v1/targets").get_json()["targets"]}
    assert {t["jurisdiction"] for t in targets.values()} == {"370403"} and len(targets) == 14
    industry = targets["xc-industry-500"]  # 工业 ≥ 500 万元 under construction or done: the demo has some
    assert industry["value"] > 0 and industry["status"] in ("done", "on_track", "behind", "overdue")
    assert sum(1 for t in targets.values() if t["value"]) >= 3  # km, quantities, counts measured
    assert targets["xc-equipment-growth-2027"]["status"] == "needs_baseline"
    page = client_for("bureau").get("/targets").get_data(as_text=True)
    assert "实施投资过500万元的工业企业技术改造项目80个以上" in page
    again = CliRunner().invoke(main, ["demo"])
    assert again.exit_code == 0 and "已加载规划目标" not in again.output  # never reloaded over


def test_demo_with_districts_loads_a_city_and_a_province_target_beside_the_districts_total(committed, client_for):
    from click.testing import CliRunner
    from web.cli import main
    result = CliRunner().invoke(main, ["demo", "--count", "40", "--districts", "370403,370784,371502"])
    assert result.exit_code == 0, result.output
    assert "已加载规划目标：370403、370784、371502、3704、37" in result.output
    targets = {t["id"]: t for t in client_for("admin").get("/api/v1/targets").get_json()["targets"]}
    city, province = targets["demo-zz-gas-2027"], targets["demo-sd-farm-machinery"]
    assert (city["level"], province["level"]) == ("city", "province")
    assert city["district_sum"]["targets"] == ["xc-gas-2027"]
    assert city["district_sum"]["value"] == targets["xc-gas-2027"]["value"] == city["value"]
    industry = targets["demo-zz-industry-500"]  # 枣庄市 holds 薛城区 only: its figure is 薛城区's
    assert industry["district_sum"]["value"] == targets["xc-industry-500"]["value"] == industry["value"] > 0
    assert province["district_sum"]["targets"] == ["dcf-farm-machinery"]
    assert province["district_sum"]["threshold"] == 700
    assert targets["demo-sd-industry-500"]["value"] >= targets["xc-industry-500"]["value"] > 0
    assert targets["demo-sd-equipment-growth-2027"]["district_sum"]["reason"] == "ratio"
    page = client_for("admin").get("/targets").get_data(as_text=True)
    assert "区县合计" in page and "（演示）每年全省更新购置农业机械30000台（套）以上" in page
