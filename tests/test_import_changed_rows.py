"""A re-import writes, lists, audits and re-matches only the rows that really change (DESIGN §4,
§9); rows stream through validation and staging chunk by chunk with the same results."""
from __future__ import annotations

import io
import re
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from registry import import_rows, sqlfiles
from registry.import_rows import _stored
from registry.importing import import_projects
from registry.models import AuditEntry, Project
from registry.project_input import current_record

HEADER = "项目代码,项目名称,领域,建设单位,几何WKT,总投资（万元）,项目阶段"
LINE, POINT = "2024-370499-42-01-000201", "2024-370499-42-01-000202"
ACROSS = "LINESTRING(117.05 35.05, 117.25 35.05)"  # 甲街道 → 乙镇 → 丙镇


def csv_file(header: str, *rows: str) -> io.BytesIO:
    return io.BytesIO((header + "\n" + "\n".join(rows) + "\n").encode())


def rows(line_name: str = "东西管网", line_wkt: str = ACROSS, point_name: str = "乙镇锅炉",
         point_wkt: str = "POINT(117.15 35.05)") -> io.BytesIO:
    return csv_file(HEADER, f'{LINE},{line_name},工业,甲公司,"{line_wkt}",800,谋划储备',
                    f'{POINT},{point_name},工业,乙公司,"{point_wkt}",100,谋划储备')


def project(db: Session, code: str) -> Project:
    return db.scalars(select(Project).where(Project.code == code).execution_options(populate_existing=True)).one()


def shares(db: Session, code: str) -> list[tuple]:
    return db.execute(text(
        "SELECT pt.town_code, round(pt.share::numeric, 4), round(pt.length_km::numeric, 3) FROM project_towns pt "
        "JOIN projects p ON p.id = pt.project_id WHERE p.code = :code ORDER BY 1"), {"code": code}).all()


def audited(db: Session, code: str) -> int:
    return db.scalar(select(AuditEntry.id).where(AuditEntry.entity == "project",
                                                 AuditEntry.entity_id == str(project(db, code).id))
                     .order_by(AuditEntry.id.desc()).limit(1))


def test_a_change_that_keeps_the_location_keeps_the_town_and_its_shares(db, grid_district):
    first = import_projects(db, rows())
    assert first.imported == 2, first.problems
    line_shares, line_town = shares(db, LINE), project(db, LINE).primary_town_code
    assert len(line_shares) == 3
    point_version, point_audit = project(db, POINT).version, audited(db, POINT)
    report = import_projects(db, rows(line_name="东西燃气管网"))
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 1)
    line = project(db, LINE)
    assert line.name == "东西燃气管网" and line.primary_town_code == line_town
    assert shares(db, LINE) == line_shares
    # the unchanged row: no new version, no audit entry, nothing in the change list
    assert (project(db, POINT).version, audited(db, POINT)) == (point_version, point_audit)
    assert [entry["code"] for entry in report.changes] == [LINE]


def test_a_moved_geometry_is_matched_again(db, grid_district):
    import_projects(db, rows())
    assert project(db, POINT).primary_town_code.endswith("002")  # 乙镇
    report = import_projects(db, rows(point_wkt="POINT(117.25 35.05)", line_wkt="LINESTRING(117.05 35.05, 117.08 35.05)"))
    assert (report.updated, report.unchanged) == (2, 0)
    assert [town for town, _share, _km in shares(db, POINT)] == [project(db, POINT).primary_town_code]
    assert project(db, POINT).primary_town_code.endswith("003")  # 丙镇
    [(town, share, _km)] = shares(db, LINE)
    assert town == project(db, LINE).primary_town_code and share == 1
    [entry] = [e for e in report.changes if e["code"] == POINT]
    assert [f["field"] for f in entry["fields"]] == ["geometry"]


def test_a_restored_project_is_matched_again(db, grid_district):
    import_projects(db, rows())
    db.execute(text("UPDATE projects SET deleted_at = now() WHERE code = :code"), {"code": POINT})
    db.execute(text("DELETE FROM project_towns WHERE project_id = (SELECT id FROM projects WHERE code = :code)"),
               {"code": POINT})
    db.commit()
    report = import_projects(db, rows(), restore=True)
    assert (report.updated, report.unchanged) == (1, 1)
    assert project(db, POINT).deleted_at is None and len(shares(db, POINT)) == 1


def test_rows_stream_in_chunks_with_the_same_results(db, grid_district, monkeypatch):
    monkeypatch.setattr(import_rows, "_CHUNK", 3)
    codes = [f"2024-370499-42-01-{n:06d}" for n in range(300, 308)]
    lines = [f"{code},项目{n},工业,甲公司,POINT(117.{15 + n % 2} 35.05),10,谋划储备" for n, code in enumerate(codes)]
    lines[4] = f"{codes[4]},项目4,工业,甲公司,POINT(117.15 35.05),十元,谋划储备"  # bad number
    lines.append(f"{codes[1]},重复,工业,甲公司,POINT(117.15 35.05),10,谋划储备")  # row 10: chunk 4
    report = import_projects(db, csv_file(HEADER, *lines))
    assert (report.imported, report.rejected) == (7, 2)
    assert {(p.row, p.kind) for p in report.problems} == {(6, "bad_number"), (10, "duplicate_code")}
    stored = db.scalars(select(Project.code).where(Project.code.in_(codes))).all()
    assert sorted(stored) == sorted(codes[:4] + codes[5:])
    assert project(db, codes[1]).name == "项目1"
    # the same file again, still in chunks: nothing changes
    again = import_projects(db, csv_file(HEADER, *lines))
    assert (again.imported, again.updated, again.unchanged, again.rejected) == (0, 0, 7, 2)


def test_the_stored_record_a_reimport_merges_with_is_the_edit_forms(db, grid_district):
    full = ("项目代码,项目名称,领域,子类,建设单位,统一社会信用代码,所属镇街,详细地址,经度,纬度,总投资（万元）,"
            "设备投资（万元）,已完成投资（万元）,资金来源,项目阶段,计划开工,计划竣工,实际开工,牵头单位,责任单位,"
            "重点项目,数量,计量单位,备注")
    row = (f"{POINT},锅炉,工业,节能降碳,甲公司,91370403MA3C4DQA7Q,乙镇,一号,117.15,35.05,2000.5,100,"
           "1234.58,超长期特别国债；地方财政,在建,2024-03,2025-12-31,2024-04-02,发改局,甲街道；乙镇,是,3.5,台,说明")
    report = import_projects(db, csv_file(full, row))
    assert report.imported == 1 and report.rejected == 0
    stored = _stored(db, {POINT})[POINT]
    assert stored.record == current_record(project(db, POINT), geometry=False)
    assert stored.record["funding"] and "；" in stored.record["responsible_units"]
    assert stored.record["is_key"] == "是" and stored.record["planned_start"] == "2024-03-01"


def test_every_problem_kind_of_the_docs_has_a_label_in_both_languages():
    from registry.import_report import kind_label
    from registry.vocab import PROBLEM_KINDS as KIND_LABELS
    docs = (Path(__file__).resolve().parents[1] / "docs" / "import.md").read_text(encoding="utf-8")
    listed = docs[docs.index("## Problem kinds"):].split("\n## ")[0]
    kinds = set(re.findall(r"`([a-z_]+)`", listed))
    assert kinds and kinds <= set(KIND_LABELS)
    assert kind_label("will_clear") == "将清空已有值" and kind_label("will_clear", "en") == "Will clear a stored value"
    assert kind_label("no_such_kind") == "no_such_kind"


def test_a_point_given_again_within_a_micro_degree_keeps_the_stored_location(db, grid_district):
    """经度/纬度 are compared with the stored point as GEOS's equals_exact does (distance within
    SAME_PLACE_DEGREES), without building either geometry: the CRS a point was first given in
    (here GCJ02) stays when an exported WGS84 sheet comes back; a move of 0.8 µ° on both axes
    (1.13 µ° away) is a move."""
    header = "项目代码,项目名称,领域,建设单位,经度,纬度,坐标系,总投资（万元）,项目阶段"
    first = import_projects(db, csv_file(header, f"{POINT},锅炉,工业,乙公司,117.15,35.05,GCJ02,100,谋划储备"))
    assert first.imported == 1, first.problems
    x, y = db.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM projects WHERE code = :code"),
                      {"code": POINT}).one()
    version = project(db, POINT).version
    for dx in (0.0, 0.6e-6):  # 0.85 µ° away: the same place
        again = import_projects(db, csv_file(header, f"{POINT},锅炉,工业,乙公司,{x + dx!r},{y + dx!r},WGS84,100,谋划储备"))
        assert (again.updated, again.unchanged, again.changes) == (0, 1, [])
        assert (project(db, POINT).version, project(db, POINT).source_crs) == (version, "GCJ02")
    moved = import_projects(db, csv_file(header, f"{POINT},锅炉,工业,乙公司,{x + 0.8e-6!r},{y + 0.8e-6!r},WGS84,100,谋划储备"))
    assert (moved.updated, moved.unchanged) == (1, 0)
    assert "geometry" in [f["field"] for f in moved.changes[0]["fields"]]
    stored = project(db, POINT)
    assert stored.source_crs == "WGS84"
    assert db.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM projects WHERE code = :code"),
                      {"code": POINT}).one() == (x + 0.8e-6, y + 0.8e-6)


def test_a_row_without_a_location_keeps_a_stored_point_exactly(db, grid_district):
    header = "项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段"
    import_projects(db, csv_file(header, f"{POINT},锅炉,工业,乙公司,117.1512345,35.0512345,100,谋划储备"))
    before = db.execute(text("SELECT ST_AsBinary(geom) FROM projects WHERE code = :code"), {"code": POINT}).scalar()
    report = import_projects(db, csv_file("项目代码,项目名称", f"{POINT},锅炉二号"))
    assert (report.updated, report.rejected) == (1, 0), report.problems
    assert project(db, POINT).name == "锅炉二号"
    assert db.execute(text("SELECT ST_AsBinary(geom) FROM projects WHERE code = :code"),
                      {"code": POINT}).scalar() == before


def test_the_audit_snapshot_of_an_inserted_project_made_while_staging_is_the_stored_projects(db, grid_district):
    """A new code's audit "after" is computed from its staged row while the next chunk is checked
    (import/03_insert_new.sql); it must equal the snapshot of the project as stored
    (import/05_audit_snapshot.sql): every field, primary town, geometry as WKT."""
    full = ("项目代码,项目名称,领域,子类,建设单位,统一社会信用代码,所属镇街,详细地址,几何WKT,坐标系,总投资（万元）,"
            "设备投资（万元）,已完成投资（万元）,资金来源,项目阶段,计划开工,计划竣工,实际开工,牵头单位,责任单位,"
            "重点项目,数量,计量单位,备注")
    report = import_projects(db, csv_file(
        full,
        f'{LINE},管网,工业,管网,甲公司,91370403MA3C4DQA7Q,乙镇,一号,"{ACROSS}",WGS84,2000.5,100,1234.58,'
        '超长期特别国债；地方财政,在建,2024-03,2025-12-31,2024-04-02,发改局,甲街道；乙镇,是,3.5,台,说明',
        f'{POINT},锅炉,工业,,乙公司,,,,"POINT(117.1512345 35.0512345)",GCJ02,100,,,,谋划储备,,,,,,,,,'))
    assert report.imported == 2, report.problems
    db.execute(sqlfiles.load("import/05_audit_snapshot"))
    for code in (LINE, POINT):
        stored = db.execute(text("SELECT snap FROM import_snapshot WHERE code = :code"), {"code": code}).scalar()
        entry = db.scalar(select(AuditEntry).where(AuditEntry.entity == "project",
                                                   AuditEntry.entity_id == str(project(db, code).id)))
        assert entry.before is None and entry.after == stored, code
        assert entry.district_code == project(db, code).district_code
    assert stored["primary_town_code"] and stored["source_crs"] == "GCJ02"
