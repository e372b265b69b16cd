"""Re-imports never destroy silently (DESIGN §4, §9): absent columns and blank cells keep the
stored values, every change is listed, clearing is a warning, deleted codes need --restore."""
from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.importing import import_projects
from registry.models import AuditEntry, Project

CODE = "2024-370499-42-01-000110"
FULL_HEADER = ("项目代码,项目名称,领域,子类,建设单位,统一社会信用代码,详细地址,经度,纬度,总投资（万元）,"
               "已完成投资（万元）,资金来源,项目阶段,计划开工,牵头单位,责任单位,数量,计量单位")
FULL_ROW = (f"{CODE},甲街道锅炉改造,工业,节能降碳,甲公司,91370403MA3C4DQA7Q,甲街道一号,117.05,35.05,2000,"
            "1234.58,超长期特别国债,前期手续,2024-03,发改局,甲街道；乙镇,3,台")


def csv_file(header: str, *rows: str) -> io.BytesIO:
    return io.BytesIO((header + "\n" + "\n".join(rows) + "\n").encode())


def project(db: Session, code: str = CODE) -> Project:
    return db.scalars(select(Project).where(Project.code == code).execution_options(populate_existing=True)).one()


def kinds(report, severity=None) -> set[tuple[int, str]]:
    return {(p.row, p.kind) for p in report.problems if severity is None or p.severity == severity}


def stored_values(p: Project) -> tuple:
    return (p.category, p.address, p.credit_code, p.funding, p.completed_investment, p.planned_start,
            p.lead_unit, p.responsible_units, p.quantity, p.unit)


KEPT = ("节能降碳", "甲街道一号", "91370403MA3C4DQA7Q", ["ultra_long_bonds"], Decimal("1234.58"),
        dt.date(2024, 3, 1), "发改局", ["甲街道", "乙镇"], Decimal("3.000"), "台")


def test_a_file_with_only_the_required_columns_keeps_every_other_field(db, grid_district):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    report = import_projects(db, csv_file("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段",
                                          f"{CODE},甲街道锅炉节能改造,工业,甲公司,117.05,35.05,2000,前期手续"))
    assert (report.updated, report.rejected) == (1, 0) and not report.problems
    stored = project(db)
    assert stored.name == "甲街道锅炉节能改造" and stored_values(stored) == KEPT
    [entry] = report.changes
    assert (entry["row"], entry["code"], entry["action"]) == (2, CODE, "update")
    assert entry["fields"] == [{"field": "name", "label": "项目名称", "before": "甲街道锅炉改造",
                                "after": "甲街道锅炉节能改造"}]


def test_blank_cells_keep_the_stored_values(db, grid_district):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    blanked = f"{CODE},甲街道锅炉改造,工业,,甲公司,,,117.05,35.05,2000,,,前期手续,,,,,"
    report = import_projects(db, csv_file(FULL_HEADER, blanked))
    assert (report.updated, report.unchanged, report.changes) == (0, 1, [])
    assert stored_values(project(db)) == KEPT


def test_clear_blanks_clears_them_with_a_will_clear_warning_per_field(db, grid_district):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    blanked = f"{CODE},甲街道锅炉改造,工业,节能降碳,甲公司,91370403MA3C4DQA7Q,甲街道一号,117.05,35.05,2000,,,前期手续,,,,,"
    preview = import_projects(db, csv_file(FULL_HEADER, blanked), clear_blanks=True, dry_run=True)
    cleared = {p.column for p in preview.problems if p.kind == "will_clear"}
    assert cleared == {"已完成投资（万元）", "资金来源", "计划开工", "牵头单位", "责任单位", "数量", "计量单位"}
    assert all(p.severity == "warning" and "将清空" in p.message for p in preview.clears)
    assert "1234.58" in next(p.message for p in preview.clears if p.column == "已完成投资（万元）")
    assert stored_values(project(db)) == KEPT  # the dry run wrote nothing
    report = import_projects(db, csv_file(FULL_HEADER, blanked), clear_blanks=True)
    stored = project(db)
    assert report.updated == 1 and stored.completed_investment is None and stored.funding == []
    assert stored.category == "节能降碳" and stored.unit is None
    fields = {f["field"]: (f["before"], f["after"]) for f in report.changes[0]["fields"]}
    assert fields["completed_investment"] == (1234.58, None) and fields["funding"] == (["ultra_long_bonds"], [])


def test_strict_refuses_a_file_that_would_clear_a_value(db, grid_district):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    blanked = FULL_ROW.replace(",1234.58,", ",,")
    report = import_projects(db, csv_file(FULL_HEADER, blanked), clear_blanks=True, strict=True)
    assert not report.written and report.rejected == 0 and [p.column for p in report.clears] == ["已完成投资（万元）"]
    assert project(db).completed_investment == Decimal("1234.58")


def test_a_row_with_the_code_and_one_column_changes_that_column_and_keeps_the_geometry(db, grid_district):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    before = project(db)
    geometry, town, version = before.geom.data, before.primary_town_code, before.version
    report = import_projects(db, csv_file("项目代码,已完成投资（万元）", f"{CODE},1500"))
    stored = project(db)
    assert (report.updated, report.rejected) == (1, 0)
    assert stored.completed_investment == Decimal("1500.00") and stored.name == "甲街道锅炉改造"
    assert (stored.geom.data, stored.primary_town_code, stored.version) == (geometry, town, version + 1)
    assert stored.source_crs == "WGS84" and stored_values(stored)[:4] == KEPT[:4]


def test_a_new_code_in_a_partial_file_needs_the_required_columns(db, grid_district):
    report = import_projects(db, csv_file("项目代码,已完成投资（万元）", "2024-370499-42-01-000120,15"))
    assert report.rejected == 1
    assert {"missing_name", "missing_geometry", "missing_value"} <= {k for _, k in kinds(report)}


def test_a_deleted_projects_code_is_an_error_unless_restore(db, grid_district):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    db.execute(Project.__table__.update().where(Project.code == CODE).values(deleted_at=dt.datetime.now(dt.UTC)))
    renamed = FULL_ROW.replace("甲街道锅炉改造", "恢复后的名称")
    report = import_projects(db, csv_file(FULL_HEADER, renamed))
    assert kinds(report) == {(2, "deleted_project")} and report.rejected == 1
    assert "--restore" in report.errors[0].message and project(db).deleted_at is not None
    restored = import_projects(db, csv_file(FULL_HEADER, renamed), restore=True, actor="registrar")
    stored = project(db)
    assert restored.updated == 1 and stored.deleted_at is None and stored.name == "恢复后的名称"
    assert restored.changes[0]["action"] == "restore"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity == "project", AuditEntry.actor == "registrar")).one()
    assert entry.before["deleted_at"] is not None and entry.after["deleted_at"] is None
    assert entry.after["name"] == "恢复后的名称"


def test_the_report_json_and_workbook_list_the_changes(db, grid_district, tmp_path):
    import_projects(db, csv_file(FULL_HEADER, FULL_ROW))
    report = import_projects(db, csv_file("项目代码,总投资（万元）,计量单位", f"{CODE},2500,套"))
    data = json.loads(json.dumps(report.to_dict(), ensure_ascii=False))
    assert [(f["field"], f["before"], f["after"]) for f in data["changes"][0]["fields"]] == \
        [("total_investment", 2000.0, 2500.0), ("unit", "台", "套")]
    report.write_xlsx(tmp_path / "r.xlsx")
    rows = list(load_workbook(tmp_path / "r.xlsx")["变更清单"].iter_rows(min_row=2, values_only=True))
    assert rows == [(2, CODE, "甲街道锅炉改造", "更新", "总投资（万元）", "2000.0", "2500.0"),
                    (2, CODE, "甲街道锅炉改造", "更新", "计量单位", "台", "套")]


def test_cli_clear_blanks_and_restore_flags(committed, engine, tmp_path):
    from conftest import insert_grid_district
    from web.cli import main
    with Session(engine) as session:
        insert_grid_district(session)
        session.commit()
    first = tmp_path / "first.csv"
    first.write_bytes(csv_file(FULL_HEADER, FULL_ROW).getvalue())
    assert CliRunner().invoke(main, ["projects", "import", str(first)]).exit_code == 0
    blank = tmp_path / "blank.csv"
    blank.write_bytes(csv_file("项目代码,牵头单位", f"{CODE},").getvalue())
    kept = CliRunner().invoke(main, ["projects", "import", str(blank)])
    strict = CliRunner().invoke(main, ["projects", "import", str(blank), "--clear-blanks", "--strict"])
    assert (kept.exit_code, strict.exit_code) == (0, 1) and "将清空已有值" in strict.output
    with Session(engine) as session:
        assert project(session).lead_unit == "发改局"
    cleared = CliRunner().invoke(main, ["projects", "import", str(blank), "--clear-blanks"])
    assert cleared.exit_code == 0 and "牵头单位" in cleared.output
    with Session(engine) as session:
        assert project(session).lead_unit is None
        session.execute(Project.__table__.update().values(deleted_at=dt.datetime.now(dt.UTC)))
        session.commit()
    refused = CliRunner().invoke(main, ["projects", "import", str(first)])
    restored = CliRunner().invoke(main, ["projects", "import", str(first), "--restore"])
    assert (refused.exit_code, restored.exit_code) == (1, 0) and "项目已删除" in refused.output
    with Session(engine) as session:
        assert project(session).deleted_at is None
