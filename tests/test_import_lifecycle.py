"""Stage rules on import exactly like edits (registry.lifecycle, row by row): backward moves need a
reason (变更原因), a cancelled project stays cancelled, suspension remembers the stage."""
from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.importing import import_projects
from registry.lifecycle import import_row_problems
from registry.models import AuditEntry, Project

CODE = "2024-370499-42-01-000310"
HEADER = "项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段,实际开工,实际竣工,变更原因"


def row(stage: str, start: str = "", end: str = "", reason: str = "") -> io.BytesIO:
    line = f"{CODE},乙镇农机更新,农业,合作社,117.15,35.05,100,{stage},{start},{end},{reason}"
    return io.BytesIO((HEADER + "\n" + line + "\n").encode())


def stored(db: Session) -> Project:
    return db.scalars(select(Project).where(Project.code == CODE).execution_options(populate_existing=True)).one()


def kinds(report) -> set[str]:
    return {p.kind for p in report.errors}


def test_a_backward_move_without_a_reason_is_the_row_error_stage_backward(db, grid_district):
    import_projects(db, row("在建", "2024-05-01"))
    report = import_projects(db, row("前期手续", "2024-05-01"))
    assert kinds(report) == {"stage_backward"} and report.rejected == 1
    assert report.errors[0].column == "变更原因" and "变更原因" in report.errors[0].message
    assert stored(db).stage == "construction"


def test_a_backward_move_with_a_reason_is_written_and_the_reason_audited(db, grid_district):
    import_projects(db, row("在建", "2024-05-01"))
    report = import_projects(db, row("前期手续", "2024-05-01", reason="用地手续被退回"), actor="registrar")
    assert report.updated == 1 and not report.errors and stored(db).stage == "approval"
    entry = db.scalars(select(AuditEntry).where(AuditEntry.entity == "project", AuditEntry.actor == "registrar")).one()
    assert entry.before == {"stage": "construction"} and entry.after == {"stage": "approval"}
    assert entry.details["reason"] == "用地手续被退回"


def test_a_cancelled_project_is_not_revived_by_a_reimport(db, grid_district):
    import_projects(db, row("终止"))
    report = import_projects(db, row("谋划储备"))
    assert kinds(report) == {"cancelled_is_final"} and stored(db).stage == "cancelled"


def test_suspension_remembers_the_stage_and_returns_only_there(db, grid_district):
    import_projects(db, row("在建", "2024-05-01"))
    import_projects(db, row("暂缓", "2024-05-01"))
    assert (stored(db).stage, stored(db).stage_before_suspension) == ("suspended", "construction")
    wrong = import_projects(db, row("竣工投产", "2024-05-01", "2024-10-01"))
    assert kinds(wrong) == {"suspended_returns_to_previous"}
    back = import_projects(db, row("在建", "2024-05-01"))
    assert back.updated == 1 and (stored(db).stage, stored(db).stage_before_suspension) == ("construction", None)


def test_completing_needs_the_end_date_and_a_missing_start_is_a_warning():
    after = {"stage": "completed", "actual_start": None, "actual_end": None, "total_investment": 10}
    problems = import_row_problems(None, after, row=4)
    assert {(p.kind, p.severity, p.column) for p in problems} == {
        ("missing_actual_start", "warning", "实际开工"), ("completed_without_end", "error", "实际竣工")}
    started = {"stage": "construction", "actual_start": None, "total_investment": 10}
    assert [(p.kind, p.severity) for p in import_row_problems(None, started, row=4)] == \
        [("missing_actual_start", "warning")]


def test_clearing_the_start_of_a_project_under_construction_is_an_error():
    before = {"stage": "construction", "actual_start": dt.date(2024, 5, 1)}
    after = {"stage": "construction", "actual_start": None, "total_investment": 10}
    assert [(p.kind, p.severity) for p in import_row_problems(before, after, row=2)] == \
        [("missing_actual_start", "error")]
