"""City and province targets (issue 14 item 2, DESIGN §9): measured over all their districts'
projects by the district rules, with the 区县合计 of the districts' targets of the same measure
beside them (ratios never summed); read by the viewers of the city or province and by
whole-registry accounts, in the application and in row-level security; loaded by the
administrator only.

Districts: 测试区 370499 and 邻区 370498 in city 3704, 远区 371599 in city 3715, all in province 37.
"""
from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from conftest import insert_grid_district, insert_other_districts
from registry import accounts, cache, target_report, targets
from registry.errors import Forbidden
from registry.roles import Role
from registry.scope import Scope, present_secret, scope_for
from target_data import TARGET_TABLES, insert_projects

SYSTEM = Scope.system("test")
AS_OF = dt.date(2025, 6, 30)

# (domain, category, stage, wkt, total, equipment, quantity, unit, actual_start, actual_end, deleted)
GRID = {
    "ind-a": ("industry", "技术改造", "construction", "POINT(117.15 35.05)", 600, 300, None, None,
              "2024-03-01", None, False),
    "ind-b": ("industry", "智能化改造", "completed", "POINT(117.25 35.05)", 800, 500, None, None,
              "2025-02-01", "2025-04-01", False),
    "ind-late": ("industry", "技术改造", "construction", "POINT(117.05 35.05)", 9000, 0, None, None,
                 "2025-08-01", None, False),  # after the as-of date
    "gas-line": ("municipal", "燃气管网", "completed", "LINESTRING(117.05 35.05, 117.25 35.05)", 800, 0,
                 None, None, "2024-01-10", "2024-06-30", False),
    "gas-km": ("municipal", "燃气管网", "completed", "POINT(117.05 35.03)", 100, 0, 3, "公里",
               "2024-02-01", "2024-09-01", False),
}
NEIGHBOUR = {  # 邻区's towns: 117.0–117.2, 35.2–35.3
    "n-ind": ("industry", "技术改造", "construction", "POINT(117.05 35.25)", 1200, 700, None, None,
              "2024-04-01", None, False),
    "n-gas": ("municipal", "燃气管网", "completed", "LINESTRING(117.05 35.22, 117.15 35.22)", 500, 0, None, None,
              "2024-02-01", "2024-08-01", False),
    "n-deleted": ("industry", "技术改造", "construction", "POINT(117.15 35.25)", 7000, 0, None, None,
                  "2024-04-01", None, True),
}
FAR = {"f-ind": ("industry", "技术改造", "construction", "POINT(117.05 35.45)", 900, 100, None, None,
                 "2024-05-01", None, False)}

MONEY = "metric: sum_total_investment, filter: {domain: 工业}"
GAS = "metric: sum_length_km, filter: {domain: 市政基础设施, category: 燃气管网, stages: [竣工投产]}, unit: 公里"
GROWTH = "metric: growth_vs_baseline"
LEVEL_PLAN = f"""
jurisdictions:
  - code: "3704"
    name: 枣庄市
    targets:
      - {{id: c-money, text: 全市工业项目总投资, {MONEY}, threshold: 5000, deadline: 2027-12-31}}
      - {{id: c-gas, text: 全市燃气管网, {GAS}, threshold: 100, deadline: 2027-12-31}}
      - {{id: c-growth, text: 全市设备投资增长, {GROWTH}, threshold: 0.3, baseline: 1000, deadline: 2027-12-31}}
      - {{id: c-share, text: 全市公交电动化比例, metric: reported, threshold: 1, deadline: 2025-12-31}}
      - {{id: c-schools, text: 全市教育项目, metric: count, filter: {{domain: 教育}}, threshold: 5, deadline: 2027-12-31}}
  - code: "37"
    name: 山东省
    targets:
      - {{id: p-money, text: 全省工业项目总投资, {MONEY}, threshold: 20000, deadline: 2027-12-31}}
  - code: "370499"
    name: 测试区
    targets:
      - {{id: d1-money, text: 工业总投资, {MONEY}, threshold: 3000, deadline: 2027-06-30}}
      - {{id: d1-gas, text: 燃气管网, {GAS}, threshold: 60, deadline: 2027-12-31}}
      - {{id: d1-growth, text: 设备投资增长, {GROWTH}, threshold: 0.2, baseline: 500, deadline: 2027-12-31}}
      - {{id: d1-share, text: 公交电动化比例, metric: reported, threshold: 1, deadline: 2025-12-31}}
  - code: "370498"
    name: 邻区
    targets:
      - {{id: d2-money, text: 工业总投资, {MONEY}, threshold: 1500, deadline: 2027-12-31}}
      - {{id: d2-gas-2025, text: 燃气管网（2025）, {GAS}, threshold: 10, deadline: 2025-12-31}}
  - code: "371599"
    name: 远区
    targets:
      - {{id: d3-money, text: 工业总投资, {MONEY}, threshold: 800, deadline: 2027-12-31}}
"""
CITY_IDS = {"c-money", "c-gas", "c-growth", "c-share", "c-schools"}
CITY_3704 = CITY_IDS | {"d1-money", "d1-gas", "d1-growth", "d1-share", "d2-money", "d2-gas-2025"}
EVERY_ID = CITY_3704 | {"p-money", "d3-money"}


def _insert(session: Session) -> None:
    insert_grid_district(session)
    insert_other_districts(session)
    insert_projects(session, GRID)
    insert_projects(session, NEIGHBOUR, district="370498")
    insert_projects(session, FAR, district="371599")


@pytest.fixture
def levels(db):
    _insert(db)
    targets.load_file(db, SYSTEM, LEVEL_PLAN)
    targets.set_value(db, SYSTEM, "c-share", "0.8", as_of=dt.date(2025, 5, 1))
    targets.set_value(db, SYSTEM, "d1-share", "0.9", as_of=dt.date(2025, 5, 1))
    cache.clear()
    return db


def _by_id(report) -> dict[str, target_report.TargetResult]:
    return {t.id: t for t in report.targets}


def _direct_money(db, level_column: str, code: str) -> float:
    return db.scalar(text(f"""
        SELECT sum(p.total_investment)::float8 FROM projects p JOIN districts d ON d.code = p.district_code
        WHERE d.{level_column} = :code AND p.deleted_at IS NULL AND p.domain_code = 'industry'
          AND p.stage IN ('construction', 'completed') AND p.actual_start BETWEEN '2024-01-01' AND :as_of"""),
        {"code": code, "as_of": AS_OF})


def test_a_city_target_counts_the_projects_of_both_its_districts(levels):
    db = levels
    found = _by_id(target_report.report(db, SYSTEM, as_of=AS_OF))
    money = _direct_money(db, "city_code", "3704")
    assert money == 600 + 800 + 1200  # not the late, the deleted or the other city's project
    assert found["c-money"].value == pytest.approx(money)
    assert found["c-money"].by_district == {"370498": 1200, "370499": 1400}
    assert found["p-money"].value == pytest.approx(_direct_money(db, "province_code", "37")) == 3500


def test_a_city_length_is_each_districts_length_inside_it(levels):
    db = levels
    expected = db.scalar(text("""
        SELECT sum(CASE WHEN ST_Dimension(p.geom) = 1
                        THEN (SELECT sum(pt.length_km) FROM project_towns pt WHERE pt.project_id = p.id)
                        ELSE p.quantity END)::float8
        FROM projects p JOIN districts d ON d.code = p.district_code
        WHERE d.city_code = '3704' AND p.deleted_at IS NULL AND p.category = '燃气管网' AND p.stage = 'completed'
          AND p.actual_end BETWEEN '2024-01-01' AND :as_of"""), {"as_of": AS_OF})
    found = _by_id(target_report.report(db, SYSTEM, as_of=AS_OF))
    assert expected > 20
    assert found["c-gas"].value == pytest.approx(expected, abs=0.01)
    assert found["c-gas"].value == pytest.approx(found["d1-gas"].value + found["d2-gas-2025"].value, abs=0.02)


def test_beside_a_city_target_the_sum_of_its_districts_targets_of_the_same_measure(levels):
    found = _by_id(target_report.report(levels, SYSTEM, as_of=AS_OF))
    money = found["c-money"].district_sum
    assert [p.id for p in money.parts] == ["d2-money", "d1-money"]  # not 远区's: another city
    assert money.threshold == 4500 and money.of_districts == 2
    assert money.value == pytest.approx(found["d1-money"].value + found["d2-money"].value) == 2600
    # a district target with another deadline year is another measure: nothing summed for it
    gas = found["c-gas"].district_sum
    assert [p.id for p in gas.parts] == ["d1-gas"] and gas.threshold == 60
    assert found["p-money"].district_sum.threshold == 3000 + 1500 + 800
    assert found["c-money"].as_json()["district_sum"] == {
        "threshold": 4500, "value": 2600, "targets": ["d2-money", "d1-money"], "districts": 2, "of_districts": 2,
        "without_value": 0, "reason": None}


def test_ratios_are_never_summed_and_nothing_is_invented(levels):
    found = _by_id(target_report.report(levels, SYSTEM, as_of=AS_OF))
    growth = found["c-growth"].district_sum
    assert growth.reason == "ratio" and growth.threshold is None and growth.value is None
    assert [p.id for p in growth.parts] == ["d1-growth"]
    assert found["c-share"].district_sum.reason == "no_unit"  # a hand-entered share: maybe a ratio
    assert found["c-share"].district_sum.threshold is None
    schools = found["c-schools"].district_sum
    assert schools.parts == [] and schools.threshold is None and schools.value is None
    assert found["d1-money"].as_json().keys() == found["d3-money"].as_json().keys()
    assert "district_sum" not in found["d1-money"].as_json()


def _figures(result: target_report.TargetResult) -> dict:
    return {**result.as_json(), "pace": result.pace, "undated": result.undated,
            "unit_mismatch": result.unit_mismatch, "unmeasured": result.unmeasured}


@pytest.mark.parametrize("scope", [SYSTEM, Scope("t1", "town", frozenset({"370499001"}))], ids=["system", "town"])
def test_district_targets_of_one_measure_are_summed_in_one_statement_each_its_own(levels, scope):
    """d1-money, d2-money and d3-money (one measure in three districts): one statement grouped by
    district, each district's figures those of the per-project rules applied to it alone."""
    db = levels
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        if "FROM classified c" in statement:
            statements.append(statement)
    event.listen(db.get_bind(), "before_cursor_execute", seen)
    try:
        summed = _by_id(target_report.report(db, scope, as_of=AS_OF, with_projects=False))
    finally:
        event.remove(db.get_bind(), "before_cursor_execute", seen)
    cache.clear()
    one_by_one = _by_id(target_report.report(db, scope, as_of=AS_OF, with_projects=True))
    money = [summed[t] for t in ("d1-money", "d2-money", "d3-money") if t in summed]
    assert len(money) == (3 if scope is SYSTEM else 1)
    for target_id, result in summed.items():
        if result.level is None:
            assert _figures(result) == _figures(one_by_one[target_id]), target_id
    if scope is SYSTEM:
        assert [m.value for m in money] == [1400, 1200, 900]
        # 13 summed targets, 8 statements: the cities' four measures, the province's one, and the
        # districts' money (d1, d2, d3), gas (d1-gas and d2-gas-2025: the same window as of
        # 2025-06-30) and growth
        assert len(statements) == 8


ACCOUNTS = [  # (role, reach, the targets seen)
    (Role.VIEWER, {"cities": ["3704"]}, CITY_3704),
    (Role.VIEWER, {"cities": ["3715"]}, {"d3-money"}),
    (Role.VIEWER, {"provinces": ["37"]}, EVERY_ID),
    (Role.BUREAU, {"districts": ["370499"]}, {"d1-money", "d1-gas", "d1-growth", "d1-share"}),
    (Role.PLANNER, {"districts": ["370498", "370499"]}, CITY_3704),  # every district of 3704
    (Role.BUREAU, {}, EVERY_ID),
    (Role.ADMIN, {}, EVERY_ID),
    (Role.TOWN, {"towns": ["370499001"]}, {"d1-money", "d1-gas", "d1-growth", "d1-share"}),
]


@pytest.mark.parametrize("role, reach, expected", ACCOUNTS,
                         ids=[f"{r}:{','.join(c for codes in reach.values() for c in codes) or 'all'}"
                              for r, reach, _e in ACCOUNTS])
def test_each_account_reads_the_same_targets_in_the_app_and_in_row_level_security(levels, role, reach, expected):
    db = levels
    account = accounts.create_user(db, actor="test", username=f"lv_{role}", role=role, **reach)
    scope = scope_for(accounts.find_account(db, account.username))
    assert {t.id for t in target_report.report(db, scope, as_of=AS_OF).targets} == expected
    entries = set(db.scalars(text("SELECT target_id FROM target_entries")))
    token = accounts.issue_token(db, account=account)[0]
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, token)
    assert set(db.scalars(text("SELECT id FROM targets"))) == expected
    jurisdictions = set(db.scalars(text("SELECT jurisdiction_code FROM targets")))
    assert set(db.scalars(text("SELECT code FROM target_jurisdictions"))) == jurisdictions
    assert set(db.scalars(text("SELECT target_id FROM target_entries"))) == entries & expected


def test_a_city_viewer_sees_the_city_sums_and_never_another_citys(levels):
    db = levels
    account = accounts.create_user(db, actor="test", username="city3704", role=Role.VIEWER, cities=["3704"])
    seen = _by_id(target_report.report(db, scope_for(account), as_of=AS_OF))
    assert seen["c-money"].value == 2600 and seen["c-money"].district_sum.threshold == 4500
    assert "p-money" not in seen and "d3-money" not in seen
    only = target_report.report(db, scope_for(account), as_of=AS_OF, district="3715")
    assert only.targets == []
    filtered = {t.id for t in target_report.report(db, SYSTEM, as_of=AS_OF, district="3704").targets}
    assert filtered == CITY_3704
    # A province's code answers with everything inside it: itself, its cities, their districts.
    everything = {t.id for t in target_report.report(db, SYSTEM, as_of=AS_OF).targets}
    assert {t.id for t in target_report.report(db, SYSTEM, as_of=AS_OF, district="37").targets} == everything
    far = accounts.create_user(db, actor="test", username="city3715", role=Role.VIEWER, cities=["3715"])
    assert [t.id for t in target_report.report(db, scope_for(far), as_of=AS_OF, district="3715").targets] == [
        "d3-money"]  # 3715 has no targets of its own: its districts' still answer its code


def test_only_the_administrator_loads_a_citys_targets(levels):
    db = levels
    for scope in (Scope("b", Role.BUREAU), Scope("b", Role.BUREAU, district_codes=frozenset({"370499"}))):
        with pytest.raises(Forbidden, match="只有管理员"):
            targets.load_file(db, scope, LEVEL_PLAN.replace("5000", "6000"))
    assert db.scalar(text("SELECT threshold FROM targets WHERE id = 'c-money'")) == 5000
    targets.load_file(db, Scope("a", Role.ADMIN), LEVEL_PLAN.replace("5000", "6000"))
    assert db.scalar(text("SELECT threshold FROM targets WHERE id = 'c-money'")) == 6000
    with pytest.raises(Forbidden):
        targets.set_value(db, Scope("b", Role.BUREAU), "c-share", "0.5")


def test_the_database_refuses_a_bureau_writing_a_citys_targets(levels):
    db = levels
    token = accounts.issue_token(db, account=accounts.create_user(db, actor="test", username="b", role=Role.BUREAU))[0]
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, token)
    conn = db.connection()
    for statement in ("INSERT INTO target_jurisdictions (code, name, kind) VALUES ('3705', '另一市', 'city')",
                      "UPDATE targets SET threshold = 1 WHERE id = 'c-money'",
                      "INSERT INTO target_entries (target_id, kind, value, as_of, entered_by) "
                      "VALUES ('c-share', 'value', 0.5, '2025-01-01', 'b')"):
        savepoint = conn.begin_nested()
        try:
            changed = conn.execute(text(statement)).rowcount
        except DBAPIError as exc:  # the restrictive policy's refusal
            assert "row-level security" in str(exc)
            changed = 0
        savepoint.rollback()
        assert changed == 0, statement
    assert conn.execute(text("UPDATE targets SET threshold = 61 WHERE id = 'd1-gas'")).rowcount == 1


def test_a_district_target_file_still_loads_for_a_bureau(levels):
    plan = LEVEL_PLAN.split('  - code: "370499"')[1]
    result = targets.load_file(levels, Scope("b", Role.BUREAU), 'jurisdictions:\n  - code: "370499"' + plan)
    assert result.jurisdictions == 3 and result.unchanged == 7


def test_bad_level_files_are_refused_with_a_chinese_message(levels):
    from registry.errors import InvalidInput
    with pytest.raises(InvalidInput, match="不是功能区"):
        targets.load_file(levels, SYSTEM, 'jurisdictions:\n  - {code: "3704", name: 市, parent: "370499", targets: []}')


# --- the command line, the API and the pages (committed data) ---------------------------------

@pytest.fixture
def levels_committed(committed, engine):
    with Session(engine) as session:
        _insert(session)
        session.commit()
        targets.load_file(session, SYSTEM, LEVEL_PLAN)
    cache.clear()
    yield committed
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TARGET_TABLES} RESTART IDENTITY CASCADE"))


def test_the_xlsx_schedule_has_the_level_rows_with_their_district_sums(levels_committed, tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    out = tmp_path / "调度表.xlsx"
    result = CliRunner().invoke(main, ["targets", "report", "--as-of", "2025-06-30", "--format", "xlsx",
                                       "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["目标进度"]
    header = [c.value for c in sheet[1]]
    rows = {row[2]: dict(zip(header, row)) for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["c-money"]["层级"] == "地市" and rows["p-money"]["层级"] == "省"
    assert (rows["c-money"]["当前值"], rows["c-money"]["区县目标合计"], rows["c-money"]["区县完成合计"]) == (2600, 4500, 2600)
    assert rows["c-growth"]["区县目标合计"] is None and "增长率不能相加" in rows["c-growth"]["区县合计说明"]
    assert rows["c-schools"]["区县合计说明"] == "各区县均无同口径目标"
    assert rows["d1-money"]["层级"] in ("", None)
    text_out = CliRunner().invoke(main, ["targets", "report", "--as-of", "2025-06-30", "--format", "text",
                                         "--district", "3704"], catch_exceptions=False).output
    assert "区县合计：2,600 / 4,500 万元（2/2 个区县有同口径目标）" in text_out


def test_the_api_gives_a_city_viewer_its_citys_targets_with_the_sums(levels_committed, client_for):
    client = client_for("viewer", cities=["3704"])
    body = client.get("/api/v1/targets?as_of=2025-06-30").get_json()
    seen = {t["id"]: t for t in body["targets"]}
    assert set(seen) == CITY_3704
    assert seen["c-money"]["level"] == "city" and seen["c-money"]["district_sum"]["threshold"] == 4500
    assert seen["c-money"]["by_district"] == {"370498": 1200, "370499": 1400}
    assert seen["c-growth"]["district_sum"]["reason"] == "ratio"
    other = client_for("viewer", cities=["3715"]).get("/api/v1/targets?as_of=2025-06-30").get_json()
    assert {t["id"] for t in other["targets"]} == {"d3-money"}


def test_the_pages_show_the_district_sums_and_hide_other_cities(levels_committed, client_for):
    client = client_for("viewer", cities=["3704"])
    page = client.get("/targets?as_of=2025-06-30").get_data(as_text=True)
    assert "区县合计" in page and "2,600 / 4,500" in page and "增长率不能相加" in page and "地市" in page
    assert "全省工业项目总投资" not in page
    detail = client.get("/targets/c-money?as_of=2025-06-30").get_data(as_text=True)
    assert "各区县" in detail and "邻区" in detail and "d2-money" in detail
    assert client.get("/targets/p-money").status_code == 404
    assert client_for("viewer", cities=["3715"]).get("/targets/c-money").status_code == 404
    english = client.get("/targets?lang=en").get_data(as_text=True)
    assert "Districts&#39; total" in english or "Districts' total" in english
