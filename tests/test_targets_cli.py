"""``eqreg targets load|report|set|baseline``: outputs and exit codes."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry.models import AuditEntry
from target_data import BAD_METRIC, PLAN, PLAN_REVISED, world_committed  # noqa: F401  (fixture)
from web.cli import main

def run(*args: str):
    return CliRunner().invoke(main, ["targets", *args], catch_exceptions=False)


def test_load_reports_added_then_unchanged_then_updated(world_committed):
    first = run("load", str(PLAN))
    assert first.exit_code == 0, first.output
    assert "新增 8 个" in first.output
    assert "未变 8 个" in run("load", str(PLAN)).output
    assert "更新 1 个" in run("load", str(PLAN_REVISED)).output


def test_load_of_a_bad_file_exits_1_with_a_chinese_message(world_committed):
    result = run("load", str(BAD_METRIC))
    assert result.exit_code == 1
    assert "无法识别的指标" in result.output


def test_report_json_to_a_file(world_committed, tmp_path):
    run("load", str(PLAN))
    out = tmp_path / "report.json"
    result = run("report", "--as-of", "2025-06-30", "--format", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["as_of"] == "2025-06-30"
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["t-count"]["value"] == 2 and by_id["tz-fitness"]["status"] == "no_data"


def test_report_district_filter_on_stdout(world_committed):
    run("load", str(PLAN))
    result = run("report", "--as-of", "2025-06-30", "--district", "370498", "--format", "json")
    assert json.loads(result.output) == {"as_of": "2025-06-30", "targets": []}


def test_report_text_shows_chinese_status(world_committed):
    run("load", str(PLAN))
    result = run("report", "--as-of", "2025-06-30", "--format", "text")
    assert result.exit_code == 0
    assert "[滞后] 测试区 t-count：2 / 4 个（50.0%，时序进度要求 74.8%，截止 2025-12-31）" in result.output
    assert "[暂无数据] 测试度假区 tz-fitness" in result.output


def test_report_xlsx_is_the_months_schedule_with_the_targets_first(world_committed, tmp_path):
    run("load", str(PLAN))
    out = tmp_path / "targets.xlsx"
    assert run("report", "--as-of", "2025-06-30", "--format", "xlsx", "-o", str(out)).exit_code == 0
    assert load_workbook(out).sheetnames == ["目标进度", "项目调度", "本月未上报"]
    sheet = load_workbook(out).worksheets[0]
    assert sheet.title == "目标进度"
    rows = {row[2]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["t-count"][6:11] == (4, 2, 0.5, round(547 / 731, 3), "滞后")  # 时序进度要求 74.8%
    assert sheet.cell(1, 10).value == "时序进度要求" and sheet.cell(2, 10).number_format == "0.0%"


def test_report_xlsx_keeps_the_district_filter(world_committed, tmp_path):
    run("load", str(PLAN))
    out = tmp_path / "other.xlsx"
    assert run("report", "--as-of", "2025-06-30", "--district", "370498", "--format", "xlsx", "-o", str(out)).exit_code == 0
    rows = list(load_workbook(out).worksheets[0].iter_rows(min_row=2, values_only=True))
    assert rows == []  # 370498 has no targets of its own: none of 测试区's


def test_xlsx_text_never_becomes_a_formula(world_committed, tmp_path, engine):
    run("load", str(PLAN))
    with engine.begin() as conn:
        conn.execute(text("UPDATE targets SET text = '=HYPERLINK(\"http://x\")' WHERE id = 't-count'"))
    out = tmp_path / "targets.xlsx"
    run("report", "--as-of", "2025-06-30", "--format", "xlsx", "-o", str(out))
    cell = next(row[3] for row in load_workbook(out).worksheets[0].iter_rows(min_row=2) if row[2].value == "t-count")
    assert cell.data_type == "s" and cell.value.startswith("=HYPERLINK")


def test_xlsx_needs_an_output_file(world_committed):
    assert run("report", "--format", "xlsx").exit_code == 2


def test_bad_as_of_exits_1(world_committed):
    run("load", str(PLAN))
    result = run("report", "--as-of", "2025-13-01", "--format", "json")
    assert result.exit_code == 1 and "YYYY-MM-DD" in result.output


def test_set_and_baseline_are_audited(world_committed, engine):
    run("load", str(PLAN))
    assert run("set", "t-reported", "85%", "--as-of", "2025-06-01").exit_code == 0
    assert run("baseline", "t-growth", "400").exit_code == 0
    data = json.loads(run("report", "--as-of", "2025-06-30", "--format", "json").output)
    by_id = {t["id"]: t for t in data["targets"]}
    assert by_id["t-reported"]["value"] == 0.85 and by_id["t-growth"]["value"] == 0.25
    with Session(engine) as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "target")
                                  .where(AuditEntry.actor.like("cli%"))).all()
    assert {"target_value", "target_baseline"} <= set(actions)


def test_set_on_a_computed_target_or_unknown_id_exits_1(world_committed):
    run("load", str(PLAN))
    assert run("set", "t-count", "3").exit_code == 1
    assert run("baseline", "no-such-target", "3").exit_code == 1
    assert run("set", "t-reported", "many").exit_code == 1


def test_missing_arguments_exit_2(world_committed):
    assert run("set", "t-reported").exit_code == 2
    assert run("report").exit_code == 2


def test_zone_boundary_from_a_file_makes_its_targets_count(world_committed, tmp_path, engine):
    from target_data import insert_projects
    run("load", str(PLAN))
    with Session(engine) as session:
        insert_projects(session, {"fitness": ("sports", "健身设施", "completed", "POINT(117.12 35.02)", 10, 0, 2, "处",
                                              "2024-01-01", "2024-05-01", False)})
        session.commit()
    outline = tmp_path / "zone.geojson"
    outline.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "测试度假区"}, "geometry": {"type": "Polygon", "coordinates": [
            [[117.1, 35.0], [117.13, 35.0], [117.13, 35.03], [117.1, 35.03], [117.1, 35.0]]]}}]}), encoding="utf-8")
    result = run("zone", "tzone", str(outline))
    assert result.exit_code == 0, result.output
    data = json.loads(run("report", "--as-of", "2025-06-30", "--district", "tzone", "--format", "json").output)
    assert data["targets"][0]["value"] == 2.0 and data["targets"][0]["status"] == "done"
    assert run("zone", "370499", str(outline)).exit_code == 1  # a district is not a zone
