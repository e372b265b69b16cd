"""districts: jurisdiction levels (city, province) and district-scoped accounts, the viewer role

* ``districts`` gains ``city_code`` (4 digits) and ``province_code`` (2 digits). A trigger fills
  them from a 6-digit code (``370403`` → ``3704``, ``37``) or, for a zone with a letter code,
  from its parent district; a value given on insert (``eqreg boundaries load --city/--province``)
  wins.
* ``user_jurisdictions`` (user, level, code): the districts a ``bureau``/``planner`` account is
  limited to, and the districts, cities or provinces a ``viewer`` reads. A bureau or planner
  account without any row keeps the whole registry (DESIGN §9); a viewer without any sees nothing.
* ``users.role`` accepts ``viewer``: read-only, never writes a row (the write policies' WITH CHECK).
* ``eqreg_request_scope()`` also returns ``districts`` (NULL: no district limit) and
  ``eqreg_visible_districts()`` reads it. Town users keep ``towns``; district-limited accounts have
  ``towns`` NULL and ``districts`` set — one of the two limits at most, never both. The policies'
  "every row" arm (``eqreg_sees_every_row()``) needs both NULL; ``eqreg_visible_projects()`` adds
  the projects of the districts; projects and import batches also test their own district_code
  (an index scan rather than a hashed list of every project of a city). Each is an initplan: a
  statement on projects looks the scope up three times, whatever the rows.

Revision ID: 0015_districts
Revises: 0014_tiles
"""
from alembic import op

revision = '0015_districts'
down_revision = '0014_tiles'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

TABLES = r"""
ALTER TABLE districts ADD COLUMN city_code varchar(4), ADD COLUMN province_code varchar(2);

CREATE FUNCTION eqreg_district_levels() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.code ~ '^[0-9]{6}$' THEN
    NEW.city_code := coalesce(NEW.city_code, left(NEW.code, 4));
    NEW.province_code := coalesce(NEW.province_code, left(NEW.code, 2));
  ELSIF NEW.parent_code IS NOT NULL THEN
    NEW.city_code := coalesce(NEW.city_code, (SELECT d.city_code FROM districts d WHERE d.code = NEW.parent_code),
                              left(NEW.parent_code, 4));
    NEW.province_code := coalesce(NEW.province_code,
                                  (SELECT d.province_code FROM districts d WHERE d.code = NEW.parent_code),
                                  left(NEW.parent_code, 2));
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER districts_levels BEFORE INSERT OR UPDATE OF code, parent_code ON districts
  FOR EACH ROW EXECUTE FUNCTION eqreg_district_levels();
UPDATE districts SET code = code;
CREATE INDEX ix_districts_city_code ON districts (city_code);
CREATE INDEX ix_districts_province_code ON districts (province_code);

ALTER TABLE users DROP CONSTRAINT ck_users_role;
ALTER TABLE users ADD CONSTRAINT ck_users_role CHECK (role IN ('admin', 'bureau', 'town', 'planner', 'viewer'));

CREATE TABLE user_jurisdictions (
  user_id integer NOT NULL CONSTRAINT fk_user_jurisdictions_user_id_users REFERENCES users (id) ON DELETE CASCADE,
  level varchar(8) NOT NULL,
  code varchar(6) NOT NULL,
  CONSTRAINT pk_user_jurisdictions PRIMARY KEY (user_id, level, code),
  CONSTRAINT ck_user_jurisdictions_level_code CHECK (
    (level = 'district' AND code ~ '^[0-9A-Za-z]{1,6}$') OR (level = 'city' AND code ~ '^[0-9]{4}$')
    OR (level = 'province' AND code ~ '^[0-9]{2}$'))
);
"""

FUNCTIONS = r"""
-- The districts an account is limited to (NULL: none, the whole registry; empty: nothing). The
-- request's scope (below) and the app's ``Account`` (registry.accounts) both read it: one rule.
-- A bureau or planner without jurisdictions sees every district (DESIGN §9); a viewer without
-- any sees nothing; admin and town users are not limited by district.
CREATE FUNCTION eqreg_account_districts(p_user_id integer, p_role text) RETURNS text[]
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $fn$
  SELECT CASE WHEN p_role = 'viewer' OR (p_role IN ('bureau', 'planner')
                   AND EXISTS (SELECT 1 FROM user_jurisdictions j WHERE j.user_id = p_user_id))
  THEN (SELECT coalesce(array_agg(DISTINCT c.code ORDER BY c.code), '{}') FROM (
          SELECT j.code::text AS code FROM user_jurisdictions j
          WHERE j.user_id = p_user_id AND j.level = 'district'
          UNION ALL
          SELECT d.code::text FROM districts d JOIN user_jurisdictions j ON j.user_id = p_user_id
            AND ((j.level = 'city' AND d.city_code = j.code) OR (j.level = 'province' AND d.province_code = j.code))
        ) c)
  END
$fn$;

DROP FUNCTION eqreg_request_scope();
CREATE FUNCTION eqreg_request_scope(OUT role text, OUT towns text[], OUT districts text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  hashed text := encode(sha256(convert_to(current_setting('eqreg.session', true), 'UTF8')), 'hex');
  account_id integer;
BEGIN
  SELECT u.id, u.role INTO account_id, role FROM users u
  WHERE u.active AND u.id = coalesce(
    (SELECT s.user_id FROM user_sessions s
     WHERE s.secret_hash = hashed AND s.revoked_at IS NULL AND s.expires_at > now()),
    (SELECT t.user_id FROM api_tokens t
     WHERE t.token_hash = hashed AND t.revoked_at IS NULL AND t.expires_at > now()));
  towns := NULL;
  districts := NULL;
  IF role IN ('admin', 'bureau', 'planner', 'viewer') THEN
    districts := eqreg_account_districts(account_id, role);
  ELSIF role = 'town' THEN
    SELECT coalesce(array_agg(ut.town_code::text ORDER BY ut.town_code), '{}') INTO towns
    FROM user_towns ut WHERE ut.user_id = account_id;
  ELSE  -- no secret, an unknown, expired or revoked one, a disabled account: nothing
    role := 'anonymous';
    towns := '{}';
  END IF;
END
$fn$;

-- NULL: no district limit; otherwise the districts whose projects are visible (empty: nothing).
CREATE FUNCTION eqreg_visible_districts() RETURNS text[] LANGUAGE sql STABLE AS $fn$
  SELECT (public.eqreg_request_scope()).districts
$fn$;

-- True when the request sees every row (neither towns nor districts limit it): one lookup.
CREATE FUNCTION eqreg_sees_every_row() RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT s.towns IS NULL AND s.districts IS NULL FROM public.eqreg_request_scope() s
$fn$;

-- The scope is looked up once (the CTE is read twice, so it is materialised).
CREATE OR REPLACE FUNCTION eqreg_visible_projects() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp ROWS 1000 AS $fn$
  WITH s AS (SELECT towns, districts FROM eqreg_request_scope())
  SELECT pt.project_id FROM project_towns pt, s WHERE pt.town_code = ANY (s.towns)
  UNION
  SELECT p.id FROM projects p, s WHERE p.district_code = ANY (s.districts)
$fn$;
"""

OLD_FUNCTIONS = r"""
DROP FUNCTION eqreg_sees_every_row();
DROP FUNCTION eqreg_visible_districts();
DROP FUNCTION eqreg_account_districts(integer, text);
DROP FUNCTION eqreg_request_scope();
CREATE FUNCTION eqreg_request_scope(OUT role text, OUT towns text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  hashed text := encode(sha256(convert_to(current_setting('eqreg.session', true), 'UTF8')), 'hex');
  account_id integer;
BEGIN
  SELECT u.id, u.role INTO account_id, role FROM users u
  WHERE u.active AND u.id = coalesce(
    (SELECT s.user_id FROM user_sessions s
     WHERE s.secret_hash = hashed AND s.revoked_at IS NULL AND s.expires_at > now()),
    (SELECT t.user_id FROM api_tokens t
     WHERE t.token_hash = hashed AND t.revoked_at IS NULL AND t.expires_at > now()));
  IF role IN ('admin', 'bureau', 'planner') THEN
    towns := NULL;
  ELSIF role = 'town' THEN
    SELECT coalesce(array_agg(ut.town_code::text ORDER BY ut.town_code), '{}') INTO towns
    FROM user_towns ut WHERE ut.user_id = account_id;
  ELSE
    role := 'anonymous';
    towns := '{}';
  END IF;
END
$fn$;
CREATE OR REPLACE FUNCTION eqreg_visible_projects() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp ROWS 1000 AS $fn$
  SELECT DISTINCT project_id FROM project_towns WHERE town_code = ANY (eqreg_visible_towns())
$fn$;
"""

TOWNS = "(SELECT eqreg_visible_towns())"
DISTRICTS = "(SELECT eqreg_visible_districts())"
ALL_ROWS = "(SELECT eqreg_sees_every_row())"
VISIBLE_PROJECTS = "(SELECT eqreg_visible_projects())"
IN_DISTRICTS = f"district_code = ANY ({DISTRICTS}::text[])"
WRITER = "(SELECT eqreg_request_role()) <> 'viewer'"


def _write(using: str, check: str | None = None) -> tuple[str, str]:
    return using, f"{WRITER} AND ({check or using})"


# (table, policy) → (USING, WITH CHECK); None keeps the clause absent.
POLICIES = {
    # Written rows are tested on their own district when districts limit the scope: a project
    # moved out of the account's districts is refused, though its id was visible before.
    ("projects", "projects_app_scope"): _write(
        f"{ALL_ROWS} OR {IN_DISTRICTS} OR id IN {VISIBLE_PROJECTS}",
        f"{ALL_ROWS} OR {IN_DISTRICTS} OR ({DISTRICTS} IS NULL AND id IN {VISIBLE_PROJECTS})"),
    ("project_towns", "project_towns_app_scope"): _write(f"{ALL_ROWS} OR project_id IN {VISIBLE_PROJECTS}"),
    ("import_batches", "import_batches_app_scope"): _write(
        f"{ALL_ROWS} OR {IN_DISTRICTS} OR EXISTS (SELECT 1 FROM projects p WHERE p.import_batch_id = import_batches.id)",
        f"{ALL_ROWS} OR {IN_DISTRICTS}"),  # town users import nothing
    ("audit_log", "audit_log_app_read"): (
        f"{ALL_ROWS} OR (entity = 'project' AND entity_id ~ '^[0-9]{{1,18}}$' "
        f"AND entity_id::bigint IN {VISIBLE_PROJECTS})", None),
    ("progress_reports", "progress_reports_app_scope"): _write(f"{ALL_ROWS} OR project_id IN {VISIBLE_PROJECTS}"),
    ("town_notices", "town_notices_app_read"): (
        f"{ALL_ROWS} OR town_code = ANY ({TOWNS}::text[]) OR left(town_code, 6) = ANY ({DISTRICTS}::text[])", None),
}

OLD_TOWNS_ALL = "(SELECT eqreg_visible_towns()) IS NULL"
OLD_POLICIES = {
    ("projects", "projects_app_scope"): (f"{OLD_TOWNS_ALL} OR id IN {VISIBLE_PROJECTS}",) * 2,
    ("project_towns", "project_towns_app_scope"): (f"{OLD_TOWNS_ALL} OR project_id IN {VISIBLE_PROJECTS}",) * 2,
    ("import_batches", "import_batches_app_scope"): (
        f"{OLD_TOWNS_ALL} OR EXISTS (SELECT 1 FROM projects p WHERE p.import_batch_id = import_batches.id)",) * 2,
    ("audit_log", "audit_log_app_read"): (
        f"{OLD_TOWNS_ALL} OR (entity = 'project' AND entity_id ~ '^[0-9]{{1,18}}$' "
        f"AND entity_id::bigint IN {VISIBLE_PROJECTS})", None),
    ("progress_reports", "progress_reports_app_scope"): (f"{OLD_TOWNS_ALL} OR project_id IN {VISIBLE_PROJECTS}",) * 2,
    ("town_notices", "town_notices_app_read"): (f"{OLD_TOWNS_ALL} OR town_code = ANY ({TOWNS}::text[])", None),
}


def _alter_policies(policies: dict) -> None:
    for (table, policy), (using, check) in policies.items():
        clauses = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
        op.execute(f"ALTER POLICY {policy} ON {table}{clauses}")


def _grant_scope_functions(*more: str) -> None:
    for signature in ("eqreg_request_scope()", "eqreg_visible_projects()", *more):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON user_jurisdictions TO {APP_ROLE}")
    op.execute(FUNCTIONS)
    _grant_scope_functions("eqreg_visible_districts()", "eqreg_sees_every_row()")
    _alter_policies(POLICIES)


def downgrade() -> None:
    _alter_policies(OLD_POLICIES)
    op.execute(OLD_FUNCTIONS)
    _grant_scope_functions()
    op.execute("DELETE FROM users WHERE role = 'viewer'")
    op.execute("DROP TABLE user_jurisdictions")
    op.execute("ALTER TABLE users DROP CONSTRAINT ck_users_role")
    op.execute("ALTER TABLE users ADD CONSTRAINT ck_users_role CHECK (role IN ('admin', 'bureau', 'town', 'planner'))")
    op.execute("DROP TRIGGER districts_levels ON districts")
    op.execute("DROP FUNCTION eqreg_district_levels()")
    op.execute("ALTER TABLE districts DROP COLUMN city_code, DROP COLUMN province_code")
