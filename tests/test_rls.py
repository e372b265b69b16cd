"""Row-level security: PostgreSQL itself keeps a town user to their town's projects (DESIGN §6, §9).

These tests switch the application's own filters off entirely: raw SQL as ``eqreg_app``, given
only what the web app gives it per transaction — the secret of the request's session or token
(``registry.scope.present_secret``). The scope is derived from that secret inside the database
(migration 0011); nothing the web role can set itself widens it.
"""
from __future__ import annotations

import datetime as dt

import psycopg.errors
import pytest
from sqlalchemy import exc, text

from conftest import GRID_TOWNS, insert_grid_district, insert_other_districts, insert_sample_projects, token_for
from registry import accounts, audit, user_sessions
from registry.scope import present_secret

FULL_ROLES = ["admin", "bureau", "planner"]
ALL_TOWNS = ",".join(code for code, _, _ in GRID_TOWNS)


@pytest.fixture
def sample(db):
    insert_grid_district(db)
    return insert_sample_projects(db)


def _expected_codes(db, town: str) -> set[str]:
    """Projects whose geometry touches the town's interior, computed from geometry (as owner)."""
    return set(db.scalars(text("""
        SELECT p.code FROM projects p JOIN towns t ON ST_Intersects(p.geom, t.geom)
        WHERE t.code = :town AND NOT ST_Touches(p.geom, t.geom)"""), {"town": town}))


def _become_app(db, secret: str | None = None) -> None:
    db.execute(text("SET LOCAL ROLE eqreg_app"))
    present_secret(db, secret)


def _as(db, role: str, *towns: str) -> None:
    """As the web role with a live token of a new ``role`` account (made as the owner first)."""
    _become_app(db, token_for(db, role, towns=towns))


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
    _as(db, "town", town)
    assert _codes(db) == expected
    visible_shares = set(db.execute(text(
        "SELECT p.code, pt.town_code FROM project_towns pt JOIN projects p ON p.id = pt.project_id")).all())
    assert {code for code, _ in visible_shares} == expected
    assert town in {t for _, t in visible_shares}


def test_setting_the_role_by_hand_does_not_widen_a_town_session(db, sample):
    """What an injected ``set_config`` could try before migration 0011: it changes nothing now."""
    town = GRID_TOWNS[0][0]
    expected = _expected_codes(db, town)
    _as(db, "town", town)
    db.execute(text("SELECT set_config('eqreg.role', 'admin', true), set_config('eqreg.towns', :all, true)"),
               {"all": ALL_TOWNS})
    assert _codes(db) == expected
    db.execute(text("SET LOCAL eqreg.role = 'system'"))
    assert _codes(db) == expected
    with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
        db.execute(text("INSERT INTO target_jurisdictions (code, name, kind) VALUES ('x', 'x', 'zone')"))
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)


def test_a_forged_or_unknown_secret_sees_nothing(db, sample):
    token = token_for(db, "admin")
    stored_hash = db.scalar(text("SELECT token_hash FROM api_tokens ORDER BY id DESC LIMIT 1"))
    for forged in ("eqr_" + "A" * 43, stored_hash, "", token + "x"):
        db.execute(text("RESET ROLE"))
        _become_app(db, forged)
        db.execute(text("SELECT set_config('eqreg.role', 'admin', true)"))
        assert _codes(db) == set(), forged
        assert db.scalar(text("SELECT eqreg_request_role()")) == "anonymous"


def test_a_revoked_expired_or_disabled_credential_sees_nothing(db, sample):
    revoked, expired, disabled = (token_for(db, "bureau", username=name) for name in ("r", "e", "d"))
    accounts.revoke_token(db, secret=revoked, actor="test")
    db.execute(text("UPDATE api_tokens SET expires_at = now() - interval '1 second' "
                    "WHERE user_id = (SELECT id FROM users WHERE username = 'e')"))
    db.execute(text("UPDATE users SET active = false WHERE username = 'd'"))
    for secret in (revoked, expired, disabled):
        db.execute(text("RESET ROLE"))
        _become_app(db, secret)
        assert _codes(db) == set()


def test_a_browser_session_secret_carries_its_accounts_scope(db, sample):
    town = GRID_TOWNS[1][0]
    account = accounts.create_user(db, actor="test", username="browser_town", role="town", towns=[town])
    signed_in, anonymous = user_sessions.new_secret(), user_sessions.new_secret()
    user_sessions.save(db, secret=signed_in, data={}, user_id=account.id, ip=None, user_agent=None)
    user_sessions.save(db, secret=anonymous, data={}, user_id=None, ip=None, user_agent=None)
    _become_app(db, signed_in)
    assert _codes(db) == _expected_codes(db, town)
    db.execute(text("RESET ROLE"))
    user_sessions.end(db, secret=signed_in)  # logged out: the same secret is worth nothing at once
    _become_app(db, signed_in)
    assert _codes(db) == set()
    db.execute(text("RESET ROLE"))
    _become_app(db, anonymous)
    assert _codes(db) == set()


def test_the_scope_is_looked_up_once_per_statement_not_per_row(db, sample):
    """The policies call the definer function as an initplan: its calls do not grow with rows."""
    db.execute(text("SET LOCAL track_functions = 'all'"))
    _as(db, "town", GRID_TOWNS[1][0])

    def calls_for(statement: str) -> int:
        before = db.scalar(text("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                                "WHERE funcname = 'eqreg_request_scope'"))
        rows = db.execute(text(statement)).all()
        assert rows
        return db.scalar(text("SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions "
                              "WHERE funcname = 'eqreg_request_scope'")) - before

    one_row = calls_for("SELECT code FROM projects ORDER BY code LIMIT 1")
    every_row = calls_for("SELECT code FROM projects")
    with_shares = calls_for("SELECT p.code FROM projects p JOIN project_towns pt ON pt.project_id = p.id "
                            "AND pt.town_code = ANY (ARRAY(SELECT code FROM towns))")
    # projects: a few per statement, whatever the rows (0020: does it see every project, the towns,
    # the hashed set of districts, the towns' projects)
    assert 0 < one_row == every_row <= 4
    assert with_shares <= 2 * every_row  # the same again for project_towns


def test_unset_scope_sees_nothing(db, sample):
    audit.record(db, actor="test", action="update", entity="project", entity_id=next(iter(sample.values())))
    db.execute(text("INSERT INTO import_batches (district_code, filename, sha256, created_by) "
                    "VALUES ('370499', 'a.csv', repeat('0', 64), 'test')"))
    _become_app(db)
    for table in ("projects", "project_towns", "audit_log", "import_batches", "progress_reports", "town_notices"):
        assert db.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table


def test_town_account_without_towns_sees_nothing(db, sample):
    token = token_for(db, "town", towns=[GRID_TOWNS[0][0]], username="townless")
    db.execute(text("DELETE FROM user_towns WHERE user_id = (SELECT id FROM users WHERE username = 'townless')"))
    _become_app(db, token)
    assert _codes(db) == set()


@pytest.mark.parametrize("role", FULL_ROLES)
def test_district_roles_see_every_project(db, sample, role):
    everything = set(db.scalars(text("SELECT code FROM projects")))
    _as(db, role)
    assert _codes(db) == everything


def test_town_scope_cannot_change_other_towns_projects(db, sample):
    town = GRID_TOWNS[0][0]
    mine = _expected_codes(db, town)
    _as(db, "town", town)
    updated = db.execute(text("UPDATE projects SET remarks = 'x' RETURNING code")).scalars().all()
    assert set(updated) == mine
    assert db.execute(text("DELETE FROM project_towns WHERE town_code <> :t AND project_id NOT IN "
                           "(SELECT project_id FROM project_towns WHERE town_code = :t)"), {"t": town}).rowcount == 0


def test_town_scope_cannot_insert_a_project(db, sample):
    _as(db, "town", GRID_TOWNS[0][0])
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
    _as(db, "town", town)
    seen = set(db.scalars(text("SELECT details->>'code' FROM audit_log WHERE action = 'update'")))
    assert seen == mine
    audit.record(db, actor="town1", action="refused", entity="project", entity_id=-1)  # append works
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
            db.execute(text(statement))
        assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)


def test_app_cannot_delete_accounts(db):
    _as(db, "admin")
    with pytest.raises(exc.ProgrammingError) as raised, db.begin_nested():
        db.execute(text("DELETE FROM users"))
    assert isinstance(raised.value.orig, psycopg.errors.InsufficientPrivilege)



# --- Districts (issue 14): row-level security alone keeps a district's bureau to its district ---

@pytest.fixture
def districts(db, sample):
    return insert_other_districts(db)


def _refused(db, statement: str, **params) -> None:
    with pytest.raises(exc.DBAPIError) as raised, db.begin_nested():
        db.execute(text(statement), params)
    assert isinstance(raised.value.orig, (psycopg.errors.InsufficientPrivilege, psycopg.errors.CheckViolation))


def test_a_district_bureau_reads_and_writes_only_its_district(db, districts):
    other = districts["2024-370498-01-01-300001"]
    own = db.scalar(text("SELECT id FROM projects WHERE district_code = '370499' AND deleted_at IS NULL LIMIT 1"))
    _become_app(db, token_for(db, "bureau", districts=["370499"]))
    assert set(db.scalars(text("SELECT DISTINCT district_code FROM projects"))) == {"370499"}
    assert set(db.scalars(text("SELECT DISTINCT district_code FROM project_towns"))) == {"370499"}
    assert db.execute(text("UPDATE projects SET name = 'x' WHERE id = :id"), {"id": other}).rowcount == 0
    assert db.execute(text("DELETE FROM project_towns WHERE project_id = :id"), {"id": other}).rowcount == 0
    assert db.execute(text("UPDATE projects SET name = name WHERE id = :id"), {"id": own}).rowcount == 1
    _refused(db, "UPDATE projects SET district_code = '370498' WHERE id = :id", id=own)  # moved out: refused
    _refused(db, "INSERT INTO import_batches (district_code, filename, sha256, created_by) "
                 "VALUES ('370498', 'b.csv', repeat('0', 64), 'x')")
    _refused(db, "INSERT INTO projects (district_code, code, name, domain_code, stage, owner, geom, total_investment) "
                 "VALUES ('370498', '2024-370498-01-01-399999', 'x', 'industry', 'reserve', 'x', "
                 "ST_SetSRID(ST_Point(117.05, 35.25), 4326), 1)")
    db.execute(text("INSERT INTO import_batches (district_code, filename, sha256, created_by) "
                    "VALUES ('370499', 'a.csv', repeat('0', 64), 'x')"))


def test_a_city_viewer_reads_its_city_and_writes_nothing(db, districts):
    own = db.scalar(text("SELECT id FROM projects WHERE district_code = '370499' LIMIT 1"))
    _become_app(db, token_for(db, "viewer", cities=["3704"]))
    assert set(db.scalars(text("SELECT DISTINCT district_code FROM projects"))) == {"370498", "370499"}
    _refused(db, "UPDATE projects SET name = 'x' WHERE id = :id", id=own)
    _refused(db, "INSERT INTO import_batches (district_code, filename, sha256, created_by) "
                 "VALUES ('370499', 'a.csv', repeat('0', 64), 'x')")
    _refused(db, "INSERT INTO progress_reports (project_id, district_code, reported_on, period, created_by) "
                 "VALUES (:id, '370499', '2025-06-30', '2025-06', 'x')", id=own)


def test_a_bureau_without_districts_still_sees_every_district(db, districts):
    _as(db, "bureau")
    assert set(db.scalars(text("SELECT DISTINCT district_code FROM projects"))) == {"370498", "370499", "371599"}


def test_a_viewer_of_an_empty_city_and_a_province_viewer(db, districts):
    _become_app(db, token_for(db, "viewer", cities=["3799"]))
    assert _codes(db) == set()
    db.execute(text("RESET ROLE"))
    _become_app(db, token_for(db, "viewer", provinces=["37"]))
    assert set(db.scalars(text("SELECT DISTINCT district_code FROM projects"))) == {"370498", "370499", "371599"}


def test_a_viewer_deletes_nothing(db, districts):
    shares = db.scalar(text("SELECT count(*) FROM project_towns"))
    _become_app(db, token_for(db, "viewer", cities=["3704"]))
    assert db.execute(text("DELETE FROM project_towns")).rowcount == 0
    assert db.execute(text("DELETE FROM import_batches")).rowcount == 0
    assert db.execute(text("DELETE FROM projects WHERE district_code = '370499'")).rowcount == 0
    db.execute(text("RESET ROLE"))
    assert db.scalar(text("SELECT count(*) FROM project_towns")) == shares


@pytest.fixture
def plan_targets(db, districts):
    """Targets of 370498, of its zone ``zoneb`` and of 370499 (made as the owner): id by jurisdiction."""
    db.execute(text("INSERT INTO target_jurisdictions (code, name, kind, parent_code) VALUES "
                    "('370498', '甲区', 'district', NULL), ('zoneb', '乙园', 'zone', '370498'), "
                    "('370499', '测试区', 'district', NULL)"))
    for code in ("370498", "zoneb", "370499"):
        db.execute(text("INSERT INTO targets (id, jurisdiction_code, text, metric, threshold, deadline) "
                        "VALUES (:id, :code, '目标', 'count', 1, '2027-12-31')"), {"id": f"t-{code}", "code": code})
    return {code: f"t-{code}" for code in ("370498", "zoneb", "370499")}


def _entry(target: str) -> str:
    return (f"INSERT INTO target_entries (target_id, kind, value, as_of, entered_by) "
            f"VALUES ('{target}', 'value', 1, '2026-01-01', 'x')")


def test_a_district_bureau_writes_only_its_districts_targets(db, plan_targets):
    _become_app(db, token_for(db, "bureau", districts=["370499"]))
    for other in ("370498", "zoneb"):
        assert db.execute(text("UPDATE targets SET threshold = 2 WHERE id = :id"), {"id": plan_targets[other]}).rowcount == 0
        assert db.execute(text("UPDATE target_jurisdictions SET name = 'x' WHERE code = :c"), {"c": other}).rowcount == 0
        _refused(db, _entry(plan_targets[other]))
    _refused(db, "INSERT INTO target_jurisdictions (code, name, kind, parent_code) VALUES ('zonec', 'x', 'zone', '370498')")
    _refused(db, "INSERT INTO targets (id, jurisdiction_code, text, metric, threshold, deadline) "
                 "VALUES ('t-new', '370498', 'x', 'count', 1, '2027-12-31')")
    _refused(db, "UPDATE targets SET jurisdiction_code = '370498' WHERE id = 't-370499'")  # moved out
    assert db.execute(text("UPDATE targets SET threshold = 2 WHERE id = 't-370499'")).rowcount == 1
    db.execute(text("INSERT INTO target_jurisdictions (code, name, kind, parent_code) VALUES ('zoned', 'x', 'zone', '370499')"))
    db.execute(text(_entry(plan_targets["370499"])))


def test_a_bureau_cannot_squat_another_districts_code_as_its_zone(db, plan_targets):
    """Only a zone (a code not all digits) belongs to its parent district: a district bureau that
    names another district's code a "zone" of its own is refused, and a district row squatted
    before a plan was loaded (made here as the owner) stays out of its reach (0019)."""
    db.execute(text("INSERT INTO target_jurisdictions (code, name, kind, parent_code) "
                    "VALUES ('370481', '占位', 'district', '370499')"))
    db.execute(text("INSERT INTO targets (id, jurisdiction_code, text, metric, threshold, deadline) "
                    "VALUES ('t-370481', '370481', 'x', 'count', 1, '2027-12-31')"))
    _become_app(db, token_for(db, "bureau", districts=["370499"]))
    for code in ("370482", "3705", "37"):
        _refused(db, "INSERT INTO target_jurisdictions (code, name, kind, parent_code) "
                     "VALUES (:c, 'x', 'zone', '370499')", c=code)
    assert db.execute(text("UPDATE targets SET threshold = 0.01 WHERE id = 't-370481'")).rowcount == 0
    _refused(db, _entry("t-370481"))


def test_the_web_role_writes_no_boundary_or_vocabulary_table(db, districts):
    """A viewer moving a district into its own city would widen its scope (0019): every such
    write is refused to the web role, whoever the request is."""
    _become_app(db, token_for(db, "viewer", cities=["3704"]))
    for statement in ("UPDATE districts SET city_code = '3704'", "DELETE FROM towns",
                      "UPDATE towns SET district_code = '370499'", "DELETE FROM town_parts",
                      "INSERT INTO domains (code, label_zh) VALUES ('x', 'x')", "DELETE FROM categories",
                      "DELETE FROM funding_sources"):
        _refused(db, statement)


def test_a_bureau_without_districts_and_an_admin_write_every_districts_targets(db, plan_targets):
    for role in ("bureau", "admin"):
        _become_app(db, token_for(db, role))
        assert db.execute(text("UPDATE targets SET threshold = 3")).rowcount == 3
        db.execute(text(_entry(plan_targets["zoneb"])))
        db.execute(text("RESET ROLE"))


def test_a_viewer_writes_no_targets(db, plan_targets):
    _become_app(db, token_for(db, "viewer", provinces=["37"]))
    assert db.execute(text("UPDATE targets SET threshold = 2")).rowcount == 0
    _refused(db, _entry(plan_targets["370499"]))
    _refused(db, "INSERT INTO target_jurisdictions (code, name, kind) VALUES ('370497', 'x', 'district')")
