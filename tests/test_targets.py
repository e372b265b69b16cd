"""Plan targets (DESIGN §5a, §9) computed on small fixtures: each metric, window, status, the
per-town split, unit rules, scoping and idempotent loading."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from registry import target_measures as tm
from registry import target_report, targets
from registry.errors import Forbidden, InvalidInput
from registry.models import AuditEntry
from registry.scope import Scope
from target_data import BAD_METRIC, PLAN, PLAN_REVISED, TOWN1, TOWN2, TOWN3, insert_world, read

AS_OF = dt.date(2025, 6, 30)
SYSTEM = Scope.system("test")


@pytest.fixture
def world(db):
    ids = insert_world(db)
    targets.load_file(db, SYSTEM, read(PLAN))
    return ids


def figures(db, scope=SYSTEM, as_of=AS_OF, **kwargs) -> dict[str, target_report.TargetResult]:
    result = target_report.report(db, scope, as_of=as_of, **kwargs)
    return {t.id: t for t in result.targets}


def town_km(db, wkt: str, town: str) -> float:
    """Geodesic length (km) of a line inside a town, straight from PostGIS."""
    return db.scalar(text("""SELECT ST_Length(ST_Intersection(ST_GeomFromText(:wkt, 4326), geom)::geography) / 1000
                             FROM towns WHERE code = :town AND valid_to IS NULL"""), {"wkt": wkt, "town": town})


GAS_LINE = "LINESTRING(117.05 35.05, 117.25 35.05)"


# --- count, windows, status ---

def test_count_takes_min_investment_default_stages_and_start_date(db, world):
    target = figures(db, target_id="t-count")["t-count"]  # the target's page lists what counts
    # ind-600 (2024) and ind-800 (2025); ind-400 is below 500, reserve and deleted never count
    assert target.value == 2
    assert sorted(p.id for p in target.counted) == sorted([world["ind-600"], world["ind-800"]])
    assert [p["id"] for p in target.undated] == [world["ind-undated"]]


def test_count_ignores_projects_of_another_district(db, world):
    assert figures(db)["t-count"].value == 2  # the neighbour's identical ind-600 is left out


def test_cumulative_window_is_clipped_at_the_as_of_date(db, world):
    assert figures(db, as_of=dt.date(2024, 12, 31))["t-count"].value == 1


def test_behind_when_value_is_below_pace(db, world):
    target = figures(db)["t-count"]
    share = (AS_OF - dt.date(2024, 1, 1)).days + 1
    assert target.pace == pytest.approx(4 * share / 731, abs=1e-4)
    assert target.progress == 0.5
    assert (target.status, target.status_label) == ("behind", "滞后")


def test_on_track_when_value_reaches_pace(db, world):
    assert figures(db, as_of=dt.date(2024, 3, 31))["t-count"].status == "on_track"  # 1 ≥ 4 × 91/731


def test_done_when_value_reaches_threshold(db, world):
    target = figures(db)["t-equipment"]
    assert target.value == 900.0  # 300 + 100 + 500 万元, any investment size
    assert (target.status, target.status_label) == ("done", "已完成")


def test_overdue_after_the_deadline_below_threshold(db, world):
    target = figures(db)["t-imaging"]
    assert target.value == 10
    assert (target.status, target.status_label) == ("overdue", "已逾期")


# --- quantities and units ---

def test_quantity_counts_only_agreeing_units_and_lists_the_others(db, world):
    target = figures(db)["t-imaging"]  # unit 台: the ultrasound in 套 does not agree
    assert [p["id"] for p in target.unit_mismatch] == [world["ultrasound"]]


def test_unit_with_alternatives_accepts_each_of_them():
    assert tm.unit_agrees("台（套）", "台") and tm.unit_agrees("台（套）", "套")
    assert tm.unit_agrees("台(套)", "台（套）")
    assert not tm.unit_agrees("台（套）", "部")
    assert not tm.unit_agrees("台", "套")
    assert tm.unit_agrees(None, "部") and tm.unit_agrees("", None)


def test_per_year_window_gives_each_year_and_the_as_of_years_value(db, world):
    target = figures(db)["t-farm"]
    assert target.years == {"2024": 100.0, "2025": 50.0}  # 台 + 套 accepted, 部 not
    assert target.value == 50.0
    assert [p["id"] for p in target.unit_mismatch] == [world["drones"]]
    assert target.pace == pytest.approx(120 * 181 / 365, abs=1e-4)
    assert target.status == "behind"
    assert target.as_json()["years"] == {"2024": 100.0, "2025": 50.0}


def test_per_year_years_stop_at_the_as_of_year(db, world):
    target = figures(db, as_of=dt.date(2024, 12, 31))["t-farm"]
    assert target.years == {"2024": 100.0}
    assert target.value == 100.0


# --- lengths ---

def test_length_is_geodesic_inside_the_district_plus_km_quantities(db, world):
    target = figures(db)["t-gas-km"]
    line = sum(town_km(db, GAS_LINE, t) for t in (TOWN1, TOWN2, TOWN3))
    assert target.value == pytest.approx(line + 3, abs=0.01)
    assert [p["id"] for p in target.unmeasured] == [world["gas-metres"]]


def test_length_per_town_follows_the_line_and_quantity_shares(db, world):
    by_town = figures(db)["t-gas-km"].by_town
    assert by_town[TOWN1] == pytest.approx(town_km(db, GAS_LINE, TOWN1) + 3, abs=0.01)
    assert by_town[TOWN2] == pytest.approx(town_km(db, GAS_LINE, TOWN2), abs=0.01)
    assert by_town[TOWN3] == pytest.approx(town_km(db, GAS_LINE, TOWN3), abs=0.01)


def test_line_length_counts_only_inside_the_district(db, world):
    from target_data import insert_projects
    insert_projects(db, {"gas-long": ("municipal", "燃气管网", "completed", "LINESTRING(117.25 35.04, 117.45 35.04)",
                                      10, 0, None, None, "2024-01-01", "2024-02-01", False)})
    before = town_km(db, GAS_LINE, TOWN3)
    inside = town_km(db, "LINESTRING(117.25 35.04, 117.45 35.04)", TOWN3)
    assert figures(db)["t-gas-km"].by_town[TOWN3] == pytest.approx(before + inside, abs=0.01)


# --- per-town split ---

def test_count_goes_to_the_primary_town(db, world):
    assert figures(db)["t-count"].by_town == {TOWN1: 0, TOWN2: 1, TOWN3: 1}


def test_money_is_split_by_share(db, world):
    assert figures(db)["t-equipment"].by_town == {TOWN1: 100.0, TOWN2: 300.0, TOWN3: 500.0}


# --- growth and reported ---

def test_growth_needs_a_baseline(db, world):
    target = figures(db)["t-growth"]
    assert (target.status, target.status_label, target.value) == ("needs_baseline", "待录入基数", None)


def test_growth_before_the_deadline_year_compares_the_as_of_year_directly(db, world):
    targets.set_baseline(db, SYSTEM, "t-growth", 400)
    target = figures(db)["t-growth"]
    # 2025's equipment investment (started in 2025, in construction or completed): ind-800 = 500
    assert target.value == pytest.approx(500 / 400 - 1)
    assert target.pace is None
    assert target.status == "on_track"
    targets.set_baseline(db, SYSTEM, "t-growth", 1000)
    assert figures(db)["t-growth"].status == "behind"


def test_growth_in_the_deadline_year_uses_that_years_investment(db, world):
    targets.set_baseline(db, SYSTEM, "t-growth", 400)
    target = figures(db, as_of=dt.date(2027, 12, 31))["t-growth"]
    assert target.value == -1.0  # nothing started in 2027
    assert target.status == "behind"
    assert figures(db, as_of=dt.date(2028, 1, 5))["t-growth"].status == "overdue"


def test_growth_early_in_the_deadline_year_is_paced_over_that_year(db, world):
    from target_data import insert_projects
    insert_projects(db, {"boiler-2027": ("industry", "节能降碳", "construction", "POINT(117.15 35.04)", 300, 150,
                                         None, None, "2027-02-01", None, False)})
    targets.set_baseline(db, SYSTEM, "t-growth", 400)
    target = figures(db, as_of=dt.date(2027, 3, 31))["t-growth"]
    assert target.value == pytest.approx(150 / 400 - 1)
    # 90 of the year's 365 days gone: 1.2 × 400 × 90/365 = 118 万元 due, 150 invested
    assert target.pace == pytest.approx(1.2 * 90 / 365 - 1, abs=1e-3)
    assert target.status == "on_track"


def test_reported_target_has_no_data_until_a_value_is_entered(db, world):
    assert figures(db)["t-reported"].status == "no_data"
    targets.set_value(db, SYSTEM, "t-reported", 0.9, as_of=dt.date(2025, 6, 1))
    target = figures(db)["t-reported"]
    assert (target.value, target.status) == (0.9, "on_track")
    assert target.reported["as_of"] == "2025-06-01"
    assert figures(db, as_of=dt.date(2025, 5, 31))["t-reported"].status == "no_data"


def test_values_and_baselines_are_audited_with_who_and_when(db, world):
    targets.set_value(db, Scope.system("cli:zhang"), "t-reported", 0.5)
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity == "target",
                                                AuditEntry.action == "target_value")).one()
    assert entry.actor == "cli:zhang" and entry.entity_id == "t-reported"
    assert entry.after["value"] == "0.5" and entry.at is not None


def test_values_only_for_reported_and_baselines_only_for_growth(db, world):
    with pytest.raises(InvalidInput):
        targets.set_value(db, SYSTEM, "t-count", 3)
    with pytest.raises(InvalidInput):
        targets.set_baseline(db, SYSTEM, "t-count", 3)


def test_town_users_cannot_enter_values(db, world):
    with pytest.raises(Forbidden):
        targets.set_value(db, Scope("town1", "town", frozenset({TOWN1})), "t-reported", 1)


# --- zones ---

def test_zone_without_boundary_reports_no_data(db, world):
    target = figures(db)["tz-fitness"]
    assert (target.status, target.status_label, target.value) == ("no_data", "暂无数据", None)


def test_zone_with_boundary_counts_projects_inside_it(db, world):
    from target_data import insert_projects
    insert_projects(db, {"fitness": ("sports", "健身设施", "completed", "POINT(117.12 35.02)", 10, 0, 2, "处",
                                     "2024-01-01", "2024-05-01", False)})
    db.execute(text("UPDATE target_jurisdictions SET geom = ST_Multi(ST_MakeEnvelope(117.1, 35.0, 117.13, 35.03, 4326)) "
                    "WHERE code = 'tzone'"))
    target = figures(db)["tz-fitness"]
    assert target.value == 2.0 and target.status == "done"
    assert target.by_town == {TOWN2: 2.0}


# --- scoping ---

def test_town_user_sees_only_their_towns_part(db, world):
    town = Scope("town2", "town", frozenset({TOWN2}))
    result = figures(db, town)
    assert result["t-count"].value == 1  # ind-600 has its primary town in 乙镇
    assert result["t-count"].by_town == {TOWN2: 1}
    assert result["t-equipment"].value == 300.0
    assert result["t-gas-km"].value == pytest.approx(town_km(db, GAS_LINE, TOWN2), abs=0.01)
    assert set(result["t-gas-km"].by_town) == {TOWN2}


def test_town_user_of_another_district_sees_no_targets(db, world):
    assert figures(db, Scope("x", "town", frozenset({"370498001"}))) == {}


def test_district_filter(db, world):
    assert set(figures(db, district="370499")) == {"t-count", "t-gas-km", "t-imaging", "t-farm", "t-equipment",
                                                    "t-growth", "t-reported", "tz-fitness"}
    assert figures(db, district="370498") == {}


# --- loading ---

def test_reload_is_idempotent_and_keeps_hand_entered_values(db, world):
    targets.set_value(db, SYSTEM, "t-reported", 0.9, as_of=dt.date(2025, 1, 1))
    targets.set_baseline(db, SYSTEM, "t-growth", 400)
    again = targets.load_file(db, SYSTEM, read(PLAN))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 8)
    revised = targets.load_file(db, SYSTEM, read(PLAN_REVISED))
    assert (revised.added, revised.updated) == (0, 1)
    assert db.scalar(select(func.count()).select_from(targets.Target)) == 8
    result = figures(db)
    assert result["t-count"].threshold == 3 and result["t-count"].text.endswith("3个")
    assert result["t-reported"].value == 0.9 and result["t-growth"].baseline == 400


def test_a_plan_load_takes_a_districts_row_back_from_a_parent(db, world):
    """A district row given a parent before the plan came (a squatted "zone") loses it when the
    plan is loaded, so no other district's bureau owns it any more (attack pass, 0019)."""
    db.execute(text("UPDATE target_jurisdictions SET parent_code = '370498' WHERE code = '370499'"))
    targets.load_file(db, SYSTEM, read(PLAN))
    assert db.scalar(text("SELECT parent_code FROM target_jurisdictions WHERE code = '370499'")) is None
    zones = db.execute(text("SELECT code, parent_code FROM target_jurisdictions WHERE kind = 'zone'")).all()
    assert zones and all(parent is not None for _, parent in zones)  # a zone keeps its parent


def test_bad_metric_is_refused_with_a_chinese_message(db):
    with pytest.raises(InvalidInput, match="无法识别的指标"):
        targets.load_file(db, SYSTEM, read(BAD_METRIC))


def test_unknown_domain_and_bad_yaml_are_refused(db):
    with pytest.raises(InvalidInput, match="无法识别的领域"):
        targets.load_file(db, SYSTEM, "jurisdictions: [{code: '370499', targets: [{id: a, metric: count, "
                                      "threshold: 1, deadline: 2025-12-31, filter: {domain: 航天}}]}]")
    with pytest.raises(InvalidInput, match="YAML"):
        targets.load_file(db, SYSTEM, "jurisdictions: [")


def test_json_has_exactly_the_keys_of_the_design(db, world):
    report = target_report.report(db, SYSTEM, as_of=AS_OF).as_json()
    assert report["as_of"] == "2025-06-30"
    by_id = {t["id"]: t for t in report["targets"]}
    assert list(by_id["t-farm"]) == list(target_report.JSON_KEYS)
    assert "years" not in by_id["t-count"]
    assert by_id["t-count"] == {
        "id": "t-count", "jurisdiction": "370499", "text": "到2025年，投资过500万元的工业项目4个", "metric": "count",
        "unit": "个", "threshold": 4, "deadline": "2025-12-31", "window": "cumulative", "value": 2,
        "progress": 0.5, "status": "behind",
        "by_town": {TOWN1: 0, TOWN2: 1, TOWN3: 1},
        "undated": 1, "unit_mismatch": 0, "unmeasured": 0}


MONEY_PLAN = """
jurisdictions:
  - code: "370499"
    name: 测试区
    targets:
      - {id: m-total, text: 市政总投资, metric: sum_total_investment, filter: {domain: municipal}, threshold: 2000,
         deadline: 2027-12-31}
      - {id: m-completed, text: 市政已完成投资, metric: sum_completed_investment,
         filter: {domain: [municipal, medical], stages: [竣工投产]}, threshold: 100, deadline: 2027-12-31}
"""


def test_total_and_completed_investment_sums(db, world):
    db.execute(text("UPDATE projects SET completed_investment = total_investment / 2 WHERE name IN ('项目gas-line', '项目ct')"))
    targets.load_file(db, SYSTEM, MONEY_PLAN)
    result = figures(db)
    # started 2024 in construction or completed: the three gas projects (800 + 100 + 50)
    assert result["m-total"].value == 950.0
    # completed by the as-of date: gas-line 400 + ct 450, the others have none completed (0)
    assert result["m-completed"].value == 850.0
    # 乙镇 holds ct and half of the gas line (0.1° of its 0.2°, along one parallel)
    assert result["m-completed"].by_town == {TOWN1: 100.0, TOWN2: 650.0, TOWN3: 100.0}
