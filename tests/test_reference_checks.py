"""The set-based reference checks that replace five foreign keys (migrations 0013_importspeed and
0025_importlean): a project's district, domain and import batch, a town share's town and project.
Same refusals as the foreign keys they replace: SQLSTATE 23503 on either side, naming the old
constraint; a project's hard delete still takes its shares with it, also those written meanwhile."""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from conftest import GRID_DISTRICT, insert_sample_projects

CODE = "2024-370499-01-01-200001"


def _insert_project(db, *, domain="industry", district=GRID_DISTRICT, batch=None) -> None:
    db.execute(text("""
        INSERT INTO projects (district_code, code, name, domain_code, owner, geom, total_investment,
                              stage, import_batch_id)
        VALUES (:district, :code, '测试项目', :domain, '测试单位', ST_GeomFromText('POINT(117.05 35.05)', 4326),
                100, 'reserve', :batch)"""),
               {"district": district, "code": CODE, "domain": domain, "batch": batch})


def _refused(db, statement, params=None, constraint=None):
    with pytest.raises(IntegrityError) as refused, db.begin_nested():
        db.execute(text(statement), params or {})
    assert isinstance(refused.value.orig, errors.ForeignKeyViolation)
    if constraint:
        assert refused.value.orig.diag.constraint_name == constraint


def test_a_project_with_a_known_district_domain_and_batch_is_written(db, grid_district):
    batch = db.execute(text("INSERT INTO import_batches (district_code, filename, sha256, created_by) "
                            "VALUES (:d, 'a.csv', 'x', 'cli') RETURNING id"), {"d": grid_district}).scalar()
    _insert_project(db, batch=batch)
    assert db.execute(text("SELECT import_batch_id FROM projects WHERE code = :c"), {"c": CODE}).scalar() == batch


@pytest.mark.parametrize("field, value, constraint", [
    ("domain", "no-such-domain", "fk_projects_domain_code_domains"),
    ("district", "999999", "fk_projects_district_code_districts"),
    ("batch", 987654321, "fk_projects_import_batch_id_import_batches"),
])
def test_a_project_naming_an_unknown_reference_is_refused(db, grid_district, field, value, constraint):
    with pytest.raises(IntegrityError) as refused, db.begin_nested():
        _insert_project(db, **{field: value})
    assert isinstance(refused.value.orig, errors.ForeignKeyViolation)
    assert refused.value.orig.diag.constraint_name == constraint
    assert str(value) in refused.value.orig.diag.message_detail


def test_an_update_to_an_unknown_domain_is_refused(db, grid_district):
    ids = insert_sample_projects(db)
    _refused(db, "UPDATE projects SET domain_code = 'no-such-domain' WHERE id = ANY(:ids)",
             {"ids": list(ids.values())}, "fk_projects_domain_code_domains")


def test_a_town_share_of_an_unknown_town_is_refused(db, grid_district):
    ids = insert_sample_projects(db)
    _refused(db, "INSERT INTO project_towns (project_id, town_code, district_code, town_id, share) "
                 "VALUES (:p, '370499009', :d, -1, 1)",
             {"p": next(iter(ids.values())), "d": grid_district}, "fk_project_towns_town_id_towns")


def test_a_domain_district_or_town_still_named_cannot_be_deleted(db, grid_district):
    insert_sample_projects(db)
    db.execute(text("INSERT INTO domains (code, label_zh, label_en) VALUES ('spare', '备用', 'Spare')"))
    _insert_project(db, domain="spare")
    _refused(db, "DELETE FROM domains WHERE code = 'spare'", constraint="fk_projects_domain_code_domains")
    _refused(db, "UPDATE domains SET code = 'spare2' WHERE code = 'spare'",
             constraint="fk_projects_domain_code_domains")
    db.execute(text("DELETE FROM projects WHERE code = :c"), {"c": CODE})
    _refused(db, "DELETE FROM towns WHERE code = '370499001'", constraint="fk_project_towns_town_id_towns")
    db.execute(text("INSERT INTO districts (code, name) VALUES ('370498', '无镇街区')"))
    _insert_project(db, district="370498")
    _refused(db, "DELETE FROM districts WHERE code = '370498'", constraint="fk_projects_district_code_districts")


def test_an_unused_domain_can_be_renamed_and_deleted(db):
    db.execute(text("INSERT INTO domains (code, label_zh, label_en) VALUES ('spare', '备用', 'Spare')"))
    db.execute(text("UPDATE domains SET code = 'spare2' WHERE code = 'spare'"))
    db.execute(text("DELETE FROM domains WHERE code = 'spare2'"))
    assert db.execute(text("SELECT count(*) FROM domains WHERE code LIKE 'spare%'")).scalar() == 0


SHARE = ("INSERT INTO project_towns (project_id, town_code, district_code, town_id, share) "
         "SELECT :p, code, district_code, id, 0.5 FROM towns WHERE code = :town AND valid_to IS NULL")
PROJECT_KEY = "fk_project_towns_project_id_projects"


def _shares(conn, project_id: int) -> list[str]:
    return conn.execute(text("SELECT town_code FROM project_towns WHERE project_id = :p ORDER BY town_code"),
                        {"p": project_id}).scalars().all()


def test_a_town_share_of_a_missing_project_is_refused(db, grid_district):
    ids = insert_sample_projects(db)
    missing = max(ids.values()) + 1000
    with pytest.raises(IntegrityError) as refused, db.begin_nested():
        db.execute(text(SHARE), {"p": missing, "town": "370499001"})
    assert isinstance(refused.value.orig, errors.ForeignKeyViolation)
    assert refused.value.orig.diag.constraint_name == PROJECT_KEY
    assert str(missing) in refused.value.orig.diag.message_detail


def test_a_hard_delete_takes_the_shares_and_an_id_in_use_cannot_change(db, grid_district):
    ids = insert_sample_projects(db)
    pipeline, industry = ids["2024-370499-01-01-100002"], ids["2024-370499-01-01-100001"]
    assert _shares(db, pipeline) == ["370499001", "370499002", "370499003"]
    _refused(db, "UPDATE projects SET id = id + 1000 WHERE id = :p", {"p": pipeline}, PROJECT_KEY)
    db.execute(text("DELETE FROM projects WHERE id = :p"), {"p": pipeline})
    assert _shares(db, pipeline) == [] and _shares(db, industry) == ["370499002"]
    db.execute(text("TRUNCATE projects CASCADE"))
    assert db.execute(text("SELECT count(*) FROM project_towns")).scalar_one() == 0


def test_a_hard_delete_outside_read_committed_is_refused(engine, web_data):
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        with pytest.raises(DBAPIError) as refused:
            conn.execute(text("DELETE FROM projects WHERE id = :p"), {"p": web_data["2024-370499-01-01-100001"]})
        assert isinstance(refused.value.orig, errors.FeatureNotSupported)
        conn.rollback()
        assert _shares(conn, web_data["2024-370499-01-01-100001"]) == ["370499002"]


def _blocked(engine, conn, statement: str, params: dict, locktype: str) -> tuple[threading.Thread, dict]:
    """Run ``statement`` and commit on ``conn`` in a thread, and return once it waits for a lock of
    ``locktype`` (advisory: the shares' lock; transactionid: a row another transaction holds). The
    outcome's "error" is what it raised; ``conn`` is the thread's until it ends."""
    pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    outcome: dict = {}

    def run() -> None:
        try:
            conn.execute(text(statement), params)
            conn.commit()
        except Exception as error:  # noqa: BLE001 - handed to the test
            outcome["error"] = error
            conn.rollback()

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    # a connection of its own: the test's two may be all the engine's pool holds
    with psycopg.connect(engine.url.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as watcher:
        while not watcher.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted "
                                  "AND locktype = %s)", (pid, locktype)).fetchone()[0]:
            assert time.monotonic() < deadline, f"backend {pid} never waited for a {locktype} lock"
            time.sleep(0.02)
    return thread, outcome


DELETE = "DELETE FROM projects WHERE id = :p"


def test_a_delete_waits_for_an_open_share_writer_then_takes_its_share(engine, web_data):
    industry = web_data["2024-370499-01-01-100001"]
    with engine.connect() as writer, engine.connect() as deleter:
        writer.execute(text(SHARE), {"p": industry, "town": "370499003"})  # not committed yet
        # its rows are gone, its shares wait for the writer
        thread, outcome = _blocked(engine, deleter, DELETE, {"p": industry}, "advisory")
        writer.commit()
        thread.join(20)
        assert not thread.is_alive() and "error" not in outcome
        # the share committed while the delete waited went with the project
        assert _shares(writer, industry) == []


def test_a_share_written_while_a_delete_is_open_is_refused_once_it_commits(engine, web_data):
    industry = web_data["2024-370499-01-01-100001"]
    with engine.connect() as deleter, engine.connect() as writer:
        deleter.execute(text(DELETE), {"p": industry})  # open
        thread, outcome = _blocked(engine, writer, SHARE, {"p": industry, "town": "370499003"}, "advisory")
        deleter.commit()
        thread.join(20)
    assert isinstance(outcome.get("error"), IntegrityError)
    assert isinstance(outcome["error"].orig, errors.ForeignKeyViolation)
    assert outcome["error"].orig.diag.constraint_name == PROJECT_KEY
    with engine.connect() as conn:
        assert _shares(conn, industry) == []


@pytest.mark.parametrize("isolation", ["READ COMMITTED", "REPEATABLE READ"])
def test_a_writer_holding_the_project_then_writing_its_share_does_not_deadlock_a_delete(engine, web_data, isolation):
    """As an import or an edit: the project locked (or, under REPEATABLE READ, its share's foreign
    key lock), the delete waiting for that row, then the share written and committed."""
    industry = web_data["2024-370499-01-01-100001"]
    with engine.connect() as writer, engine.connect() as deleter:
        writer.execute(text(f"SET TRANSACTION ISOLATION LEVEL {isolation}"))
        # READ COMMITTED: the project locked first; else the share first, whose check locks the
        # project FOR KEY SHARE — either way the delete waits for that row
        first = ("SELECT id FROM projects WHERE id = :p FOR UPDATE" if isolation == "READ COMMITTED" else SHARE)
        writer.execute(text(first), {"p": industry, "town": "370499003"})
        thread, outcome = _blocked(engine, deleter, DELETE, {"p": industry}, "transactionid")
        if isolation == "READ COMMITTED":
            writer.execute(text(SHARE), {"p": industry, "town": "370499003"})
        writer.commit()
        thread.join(20)
        assert not thread.is_alive() and "error" not in outcome
        assert _shares(writer, industry) == []


def test_an_id_change_waits_for_an_open_share_writer_and_is_refused(engine, web_data):
    industry = web_data["2024-370499-01-01-100001"]
    with engine.connect() as writer, engine.connect() as changer:
        writer.execute(text(SHARE), {"p": industry, "town": "370499003"})  # not committed yet
        thread, outcome = _blocked(engine, changer, "UPDATE projects SET id = id + 100000 WHERE id = :p",
                                   {"p": industry}, "advisory")
        writer.commit()
        thread.join(20)
        assert isinstance(outcome.get("error"), IntegrityError)
        assert outcome["error"].orig.diag.constraint_name == PROJECT_KEY
        assert _shares(writer, industry) == ["370499002", "370499003"]



def test_the_shares_project_check_probes_each_project_when_statistics_say_projects_is_empty(db, grid_district):
    """Statistics that say ``projects`` is empty (a vacuum after killed or dry-run imports) while the
    transaction holds many new projects: the check must look each share's project up by its key
    (0026), not materialise every project and scan them once per share (minutes for an import)."""
    import io
    from registry.importing import import_projects
    db.execute(text("UPDATE pg_class SET reltuples = 0, relpages = 1 WHERE oid = 'projects'::regclass"))
    plans: list[str] = []
    connection = db.connection().connection.driver_connection
    connection.add_notice_handler(lambda diagnostic: plans.append(diagnostic.message_primary or ""))
    db.execute(text("LOAD 'auto_explain'"))
    for setting in ("auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on",
                    "client_min_messages = log"):
        db.execute(text(f"SET LOCAL {setting}"))
    rows = "\n".join(f"2025-370499-01-01-{700000 + n},项目{n},工业,甲公司,{117.0 + n / 2000:.4f},35.05,10,谋划储备"
                     for n in range(400))
    report = import_projects(db, io.BytesIO(("项目代码,项目名称,领域,建设单位,经度,纬度,总投资（万元）,项目阶段\n"
                                             + rows + "\n").encode()))
    assert report.imported == 400
    [check] = [plan for plan in plans if "FROM new_rows n" in plan and "FROM projects p WHERE p.id = n.project_id" in plan]
    assert "Materialize" not in check and "pk_projects" in check and "SubPlan" in check, check
