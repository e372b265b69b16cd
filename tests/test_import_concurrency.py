"""Imports and edits serialise (DESIGN §4): one import per district at a time (the second waits, or
gets 409 on the web), stored projects locked in code order (never a deadlock), new codes written as
they are staged (two imports that deadlock on them: one runs again, overwriting nothing), and a
project edited or registered after the import validated it is the row error ``edit_conflict`` — the
edit survives."""
from __future__ import annotations

import io
import re
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from conftest import insert_grid_district
from registry.importing import import_projects
from registry.models import AuditEntry, Project
from registry.projects import update_project
from registry.scope import Scope

CODES = [f"2024-370499-42-01-{n:06d}" for n in range(700, 712)]
HEADER = "项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段"
LOCK_DISTRICT = text("SELECT pg_advisory_xact_lock(hashtext('eqreg.import'), hashtext('370499'))")


def csv_file(name: str, codes=CODES, total: int = 100) -> io.BytesIO:
    rows = [f"{code},{name}{i},工业,甲公司,117.05,35.05,{total},谋划储备" for i, code in enumerate(codes)]
    return io.BytesIO((HEADER + "\n" + "\n".join(rows) + "\n").encode())


@pytest.fixture
def registry(committed, engine):
    """测试区 with CODES imported and committed; returns the engine."""
    with Session(engine) as session:
        insert_grid_district(session)
        session.commit()
        import_projects(session, csv_file("原名"))
    return engine


def names(engine) -> dict[str, str]:
    with Session(engine) as session:
        return dict(session.execute(select(Project.code, Project.name)).all())


def test_a_second_import_into_the_district_waits_for_the_first(registry):
    first_holds, second_waits = threading.Event(), threading.Event()
    outcomes: dict = {}

    def first():
        with Session(registry) as session:
            # validation runs under the district lock: hold it until the second import is waiting
            outcomes["first"] = import_projects(session, csv_file("甲"), progress=lambda n: (
                first_holds.set(), second_waits.wait(30)))

    def second():
        first_holds.wait(30)
        with Session(registry) as session:
            outcomes["second"] = import_projects(session, csv_file("乙", CODES[::-1]),
                                                 when_busy=second_waits.set)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert second_waits.is_set()  # the second one was told it waits
    assert outcomes["first"].updated == outcomes["second"].updated == len(CODES)
    assert not outcomes["second"].errors  # it validated against the first one's result
    assert set(names(registry).values()) == {f"乙{i}" for i in range(len(CODES))}


def test_overlapping_imports_never_deadlock(registry):
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(name, codes):
        try:
            for round_ in range(4):
                barrier.wait(30)
                with Session(registry) as session:
                    import_projects(session, csv_file(f"{name}{round_}-", codes), when_busy=lambda: None)
        except BaseException as exc:  # noqa: BLE001 — any failure, a deadlock above all, fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=("甲", CODES)), threading.Thread(target=run, args=("乙", CODES[::-1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert {name.split("-")[0] for name in names(registry).values()} <= {"甲3", "乙3"}


def test_an_edit_between_validation_and_write_is_an_edit_conflict_and_survives(registry):
    edited, other = CODES[0], CODES[1]
    with Session(registry) as session:
        edited_id = session.scalar(select(Project.id).where(Project.code == edited))

    def edit_once(_rows):
        with Session(registry) as session:
            update_project(session, edited_id, scope=Scope(actor="editor", role="bureau"),
                           changes={"name": "编辑后的名称"}, expected_version=1, actor="editor")

    with Session(registry) as session:
        report = import_projects(session, csv_file("导入", CODES[:2], total=300), progress=edit_once,
                                 actor="importer")
    conflicts = [p for p in report.problems if p.kind == "edit_conflict"]
    assert [(p.row, p.severity) for p in conflicts] == [(2, "error")] and "已被修改" in conflicts[0].message
    assert report.updated == 1 and report.rejected == 1
    with Session(registry) as session:
        project = session.get(Project, edited_id)
        assert (project.name, project.total_investment, project.version) == ("编辑后的名称", 100, 2)
        entries = session.scalars(select(AuditEntry).where(AuditEntry.entity == "project",
                                                           AuditEntry.entity_id == str(edited_id))
                                  .order_by(AuditEntry.id)).all()
        assert [(e.action, e.actor) for e in entries] == [("import", "cli"), ("update", "editor")]
        # the import's entry for the other project shows the true before
        other_id = session.scalar(select(Project.id).where(Project.code == other))
        [entry] = session.scalars(select(AuditEntry).where(
            AuditEntry.entity == "project", AuditEntry.entity_id == str(other_id),
            AuditEntry.actor == "importer")).all()
        assert entry.before == {"name": "原名1", "total_investment": 100.0}
        assert entry.after == {"name": "导入1", "total_investment": 300.0}


@pytest.fixture
def bureau(client_for, registry, app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    return client_for("bureau")


def test_the_web_import_is_refused_with_409_while_another_writes_the_district(bureau, registry):
    with registry.connect() as other:
        other.execute(LOCK_DISTRICT)
        response = bureau.post("/api/v1/imports", data={"file": (csv_file("网页"), "p.csv")},
                               content_type="multipart/form-data")
        preview = bureau.post("/imports/preview", data={"file": (csv_file("网页"), "p.csv")},
                              content_type="multipart/form-data")
        token = re.search(r'action="/imports/([\w-]+)/confirm"', preview.get_data(as_text=True))[1]
        page = bureau.post(f"/imports/{token}/confirm")
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict" and error["details"]["kind"] == "import_busy" and "另一个导入" in error["message"]
    assert page.status_code == 409 and "另一个导入" in page.get_data(as_text=True)
    assert bureau.post(f"/imports/{token}/confirm").status_code == 302  # the upload waited
    assert set(names(registry).values()) == {f"网页{i}" for i in range(len(CODES))}


def test_a_patch_between_preview_and_confirm_becomes_an_edit_conflict(bureau, registry):
    preview = bureau.post("/imports/preview", data={"file": (csv_file("网页", CODES[:2]), "p.csv")},
                          content_type="multipart/form-data").get_data(as_text=True)
    assert "原名0" in preview and "网页0" in preview  # the change list: before and after
    token = re.search(r'action="/imports/([\w-]+)/confirm"', preview)[1]
    with Session(registry) as session:
        project_id = session.scalar(select(Project.id).where(Project.code == CODES[0]))
    etag = bureau.get(f"/api/v1/projects/{project_id}").headers["ETag"]
    assert bureau.patch(f"/api/v1/projects/{project_id}", json={"name": "页面上改的"},
                        headers={"If-Match": etag}).status_code == 200
    result = bureau.get(bureau.post(f"/imports/{token}/confirm").headers["Location"]).get_data(as_text=True)
    assert "edit_conflict" in result
    assert names(registry)[CODES[0]] == "页面上改的" and names(registry)[CODES[1]] == "网页1"


def test_the_cli_waits_for_a_running_import_and_says_so(registry, tmp_path):
    from click.testing import CliRunner
    from web.cli import main
    path = tmp_path / "cli.csv"
    path.write_bytes(csv_file("命令行").getvalue())
    outcome: dict = {}
    with registry.connect() as holder:
        holder.execute(LOCK_DISTRICT)  # another import is writing 测试区
        thread = threading.Thread(target=lambda: outcome.setdefault(
            "result", CliRunner().invoke(main, ["projects", "import", str(path)])))
        thread.start()
        with registry.connect() as watcher:  # until the CLI queues behind the lock
            while not watcher.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                           "AND NOT granted AND database = (SELECT oid FROM pg_database "
                                           "WHERE datname = current_database())")).scalar() and thread.is_alive():
                watcher.rollback()
                threading.Event().wait(0.05)
        assert thread.is_alive()  # still waiting while the other import holds the district
        holder.rollback()
    thread.join(60)
    result = outcome["result"]
    assert result.exit_code == 0 and "正在等待" in result.output
    assert set(names(registry).values()) == {f"命令行{i}" for i in range(len(CODES))}


def test_a_project_registered_under_a_new_code_while_the_import_writes_is_not_overwritten(registry, monkeypatch):
    from registry import importing
    from registry.projects import create_project
    new_code = "2024-370499-42-01-000900"
    real_stage = importing._stage

    def someone_registers_the_code_then_stage(connection, valid):  # after the check, before the write
        with Session(registry) as other:
            create_project(other, scope=Scope(actor="editor", role="bureau"), actor="editor", values={
                "code": new_code, "name": "他人登记的项目", "domain": "industry", "owner": "乙公司",
                "total_investment": 50, "stage": "reserve",
                "geometry": {"type": "Point", "coordinates": [117.15, 35.05]}})
        real_stage(connection, valid)

    monkeypatch.setattr(importing, "_stage", someone_registers_the_code_then_stage)
    with Session(registry) as session:
        report = import_projects(session, csv_file("导入", [CODES[0], new_code], total=300))
    assert [(p.row, p.kind) for p in report.errors] == [(3, "edit_conflict")]
    assert "已由他人登记" in report.errors[0].message
    assert (report.updated, report.imported, report.rejected) == (1, 0, 1)
    assert names(registry)[new_code] == "他人登记的项目" and names(registry)[CODES[0]] == "导入0"
    with Session(registry) as session:  # the import wrote no audit entry for the code it did not write
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.actor == "cli", AuditEntry.entity == "project",
            AuditEntry.entity_id == str(session.scalar(select(Project.id).where(Project.code == new_code))))) == 0


def test_two_districts_importing_the_same_new_codes_in_opposite_orders_do_not_fail(registry, monkeypatch):
    """New codes are inserted chunk by chunk in file order, so two imports into different districts
    can each hold a code the other waits for: PostgreSQL aborts one (deadlock), which runs again
    once the other has committed. Neither import fails and every code is stored once."""
    from conftest import insert_other_districts
    from registry import import_rows, importing
    with Session(registry) as session:
        insert_other_districts(session)
        session.commit()
    codes = [f"2024-370499-42-01-{n:06d}" for n in (950, 951)]
    monkeypatch.setattr(import_rows, "_CHUNK", 1)  # one row per chunk: one code inserted at a time
    both_hold_their_first = threading.Barrier(2, timeout=30)
    calls: dict[int, int] = {}  # staging worker → chunks staged (each attempt has a worker of its own)
    waited: list[int] = []
    real_stage = importing._stage

    def stage(connection, valid):
        worker = threading.get_ident()
        calls[worker] = calls.get(worker, 0) + 1
        if calls[worker] == 2 and len(waited) < 2:  # first attempts: both hold their first code
            waited.append(worker)
            both_hold_their_first.wait()
        real_stage(connection, valid)

    monkeypatch.setattr(importing, "_stage", stage)
    outcomes: dict = {}

    def run(district, lat, order):
        try:
            rows = [f"{code},{district}{i},工业,甲公司,117.05,{lat},100,谋划储备" for i, code in enumerate(order)]
            with Session(registry) as session:
                outcomes[district] = import_projects(
                    session, io.BytesIO((HEADER + "\n" + "\n".join(rows) + "\n").encode()), district_code=district)
        except BaseException as exc:  # noqa: BLE001 — a failure is what this test looks for
            outcomes[district] = exc

    threads = [threading.Thread(target=run, args=("370499", 35.05, codes)),
               threading.Thread(target=run, args=("370498", 35.25, codes[::-1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not [o for o in outcomes.values() if isinstance(o, BaseException)], outcomes
    assert sum(calls.values()) > 4  # one of them ran again
    # the one run again checked its rows as new: it neither overwrites nor takes over the other's
    [(winner, won)] = [(d, r) for d, r in outcomes.items() if r.imported]
    [(_loser, lost)] = [(d, r) for d, r in outcomes.items() if not r.imported]
    assert (won.imported, lost.imported, lost.updated, lost.rejected) == (2, 0, 0, 2)
    assert {(p.kind, p.severity) for p in lost.problems} == {("edit_conflict", "error")}
    with Session(registry) as session:
        stored = session.execute(select(Project.code, Project.district_code, Project.name)
                                 .where(Project.code.in_(codes))).all()
    assert sorted(code for code, *_ in stored) == codes
    assert {(district, name[:6]) for _code, district, name in stored} == {(winner, winner)}
