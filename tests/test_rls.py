"""Row-level security: PostgreSQL itself keeps a town user to their town's projects (DESIGN §6).

These tests switch the application's own filters off entirely: raw SQL as ``eqreg_app`` with the
scope settings the web app sets per transaction, nothing else.
"""
from __future__ import annotations

import psycopg.errors
import pytest
from sqlalchemy import exc, text

from conftest import GRID_TOWNS, insert_grid_district, insert_sample_projects
from registry import audit

FULL_ROLES = ["admin", "bureau", "planner"]


@pytest.fixture
def sample(db):
    insert_grid_district(db)
    return insert_sample_projects(db)


def _expected_codes(db, town: str) -> set[str]:
    """Projects whose geometry touches the town's interior, computed from geometry (as owner)."""
    return set(db.scalars(text("""
        SELECT p.code FROM projects p JOIN towns t ON ST_Intersects(p.geom, t.geom)
        WHERE t.code = :town AND NOT ST_Touches(p.geom, t.geom)"""), {"town": town}))


def _become_app(db, role: str | None = None, towns: str | None = None) -> None:
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    if role is not None:
        db.execute(text("SELECT set_config('eqreg.role', :r, true), set_config('eqreg.towns', :t, true)"),
                   {"r": role, "t": towns or ""})


def _codes(db) -> set[str]:
    return set(db.scalars(text("SELECT code FROM projects")))


def test_app_role_is_not_superuser_owner_or_rls_exempt(db):
    row = db.execute(text("""SELECT rolsuper, rolbypassrls, pg_has_role('eqreg_app', relowner, 'MEMBER')
                             FROM pg_roles, pg_class WHERE rolname = 'eqreg_app'
                             AND pg_class.oid = 'projects'::regclass""")).one()
    assert tuple(row) == (False, False, False)
    forced = dict(db.execute(text("""SELECT relname, relforcerowsecurity AND relrowsecurity FROM pg_class
        WHERE relname IN ('projects', 'project_towns', 'import_batches', 'audit_log')""")).all())
    assert forced == dict.fromkeys(["projects", "project_towns", "import_batches", "audit_log"], True)


@pytest.mark.parametrize("town", [code for code, _, _ in GRID_TOWNS])
def test_town_scope_sees_exactly_the_projects_with_a_share_in_its_town(db, sample, town):
    expected = _expected_codes(db, town)
    everything = set(db.scalars(text("SELECT code FROM projects")))
    assert expected and expected != everything  # the sample really splits across towns
    _become_app(db, "town", town)
    assert _codes(db) == expected
    visible_shares = set(db.execute(text(
        "SELECT p.code, pt.town_code FROM project_towns pt JOIN projects p ON p.id = pt.project_id")).all())
    assert {code for code, _ in visible_shares} == expected
    assert town in {t for _, t in visible_shares}


def test_unset_scope_sees_nothing(db, sample):
    audit.record(db, actor="test", action="update", entity="project", entity_id=next(iter(sample.values())))
    db.execute(text("INSERT INTO import_batches (district_code, filename, sha256, created_by) "
                    "VALUES ('370499', 'a.csv', repeat('0', 64), 'test')"))
    _become_app(db)
    for table in ("projects", "project_towns", "audit_log", "import_batches"):
        assert db.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


def test_town_role_without_towns_sees_nothing(db, sample):
    _become_app(db, "town", "")
    assert _codes(db) == set()


@pytest.mark.parametrize("role", FULL_ROLES)
def test_district_roles_see_every_project(db, sample, role):
    everything = set(db.scalars(text("SELECT code FROM projects")))
    _become_app(db, role)
    assert _codes(db) == everything


def test_town_scope_cannot_change_other_towns_projects(db, sample):
    town = GRID_TOWNS[0][0]
    mine = _expected_codes(db, town)
    _become_app(db, "town", town)
    updated = db.execute(text("UPDATE projects SET remarks = 'x' RETURNING code")).scalars().all()
    assert set(updated) == mine
    assert db.execute(text("DELETE FROM project_towns WHERE town_code <> :t AND project_id NOT IN "
                           "(SELECT project_id FROM project_towns WHERE town_code = :t)"), {"t": town}).rowcount == 0


def test_town_scope_cannot_insert_a_project(db, sample):
    _become_app(db, "town", GRID_TOWNS[0][0])
    with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
        db.execute(text("""INSERT INTO projects (district_code, code, name, domain_code, owner, geom,
                           total_investment, stage) VALUES ('370499', '2024-370499-01-01-999999', 'x',
                           'industry', 'x', ST_GeomFromText('POINT(117.05 35.05)', 4326), 1, 'reserve')"""))
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)


def test_audit_trail_is_append_only_and_scoped_for_the_app(db, sample):
    town = GRID_TOWNS[2][0]
    mine = _expected_codes(db, town)
    for code, project_id in sample.items():
        audit.record(db, actor="test", action="update", entity="project", entity_id=project_id,
                     details={"code": code})
    audit.record(db, actor="test", action="user_create", entity="user", entity_id="someone")
    _become_app(db, "town", town)
    seen = set(db.scalars(text("SELECT details->>'code' FROM audit_log")))
    assert seen == mine
    audit.record(db, actor="town1", action="refused", entity="project", entity_id=-1)  # append works
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
            db.execute(text(statement))
        assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)


def test_app_cannot_delete_accounts(db):
    db.execute(text("INSERT INTO users (username, role) VALUES ('someone', 'planner')"))
    _become_app(db, "admin")
    with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
        db.execute(text("DELETE FROM users"))
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)
