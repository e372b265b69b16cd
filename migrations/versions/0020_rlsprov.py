"""rlsprov: row-level security a province viewer can afford (136 districts, 10^6 projects)

At province scale the policies of 0015 cost a viewer more than the work itself (BENCHMARKS §10):

* ``projects`` tested ``district_code = ANY (<the scope's districts>)`` per row; PostgreSQL hashes
  only a constant array, so each of a million rows walked 136 codes (6.2 s against 0.2 s as owner).
  The arm is now ``district_code IN (SELECT unnest(eqreg_visible_districts()))``: a hashed subplan,
  built once per statement.
* ``project_towns`` and ``progress_reports`` had no district arm: every statement built
  ``eqreg_visible_projects()`` — a million ids, through a scan of every share for the towns half
  and a UNION — before its first row (16.9 s for a count). A district-limited scope now tests
  ``project_id IN (SELECT eqreg_district_projects())``: its districts' projects, read through the
  district index, hashed once per statement — and only when the scope does not see every project
  (below). ``eqreg_visible_projects()`` is reached only by a town-limited scope, the one it is for
  (a district-limited scope's visible projects are exactly its districts' projects); the audit
  log's policy keeps using it.
* ``eqreg_sees_every_project()``: the scope sees every project — no limit at all, or a district
  limit naming every district there is. Every project names a district of ``districts`` (not null,
  checked by ``eqreg_check_project_refs`` of 0013; a named district cannot be deleted), so nothing
  is widened: a viewer of province 37 in a registry that also holds province 41 gets false. Only
  the three project tables use it; ``audit_log``, ``import_batches``, ``town_notices`` and
  ``map_cells`` keep their own rules.

Town scoping is unchanged. The write checks are unchanged except for the same hashed district arm.

Revision ID: 0020_rlsprov
Revises: 0019_hardening
"""
from alembic import op

revision = '0020_rlsprov'
down_revision = '0019_hardening'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

FUNCTION = r"""
-- True when the request sees every project: no limit, or a district limit that names every
-- district (a project's district is always one of ``districts``). Town users: false.
CREATE FUNCTION eqreg_sees_every_project() RETURNS boolean LANGUAGE sql STABLE
SET search_path = public, pg_temp AS $fn$
  SELECT s.towns IS NULL AND (s.districts IS NULL OR NOT EXISTS (
    SELECT 1 FROM districts d WHERE d.code::text <> ALL (s.districts)))
  FROM eqreg_request_scope() s
$fn$;

-- The projects of the request's districts (none for a scope without a district limit), read with
-- the owner's rights through the district index: what the policies of the shares and reports test
-- when the districts do not cover everything. No arguments: it tells nothing outside the scope.
CREATE FUNCTION eqreg_district_projects() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp ROWS 1000 AS $fn$
  SELECT p.id FROM projects p WHERE p.district_code = ANY (eqreg_visible_districts())
$fn$;
"""
NEW_FUNCTIONS = ("eqreg_sees_every_project()", "eqreg_district_projects()")

TOWNS = "(SELECT eqreg_visible_towns())"
DISTRICTS = "(SELECT eqreg_visible_districts())"
ALL_ROWS = "(SELECT eqreg_sees_every_row())"
EVERY_PROJECT = "(SELECT eqreg_sees_every_project())"
VISIBLE_PROJECTS = "(SELECT eqreg_visible_projects())"
WRITER = "(SELECT eqreg_request_role()) <> 'viewer'"
# A hashed set built once per statement (NULL districts: an empty set).
IN_DISTRICTS = "district_code IN (SELECT unnest(eqreg_visible_districts()))"
# Only a town-limited scope needs the list of visible projects.
OF_TOWNS = f"({TOWNS} IS NOT NULL AND {{column}} IN {VISIBLE_PROJECTS})"
# A share or report of a project of a district-limited scope that does not see every project: a
# hashed set of the districts' projects, read through the district index once per statement.
PROJECT_IN_DISTRICTS = f"({DISTRICTS} IS NOT NULL AND project_id IN (SELECT eqreg_district_projects()))"
OF_PROJECT = f"{EVERY_PROJECT} OR {PROJECT_IN_DISTRICTS} OR {OF_TOWNS.format(column='project_id')}"


PROJECTS_USING = f"{EVERY_PROJECT} OR {IN_DISTRICTS} OR {OF_TOWNS.format(column='id')}"
# (table, policy) → (USING, WITH CHECK)
POLICIES = {
    ("projects", "projects_app_scope"): (
        PROJECTS_USING,
        f"{WRITER} AND ({ALL_ROWS} OR {IN_DISTRICTS} OR ({DISTRICTS} IS NULL AND id IN {VISIBLE_PROJECTS}))"),
    ("project_towns", "project_towns_app_scope"): (OF_PROJECT, f"{WRITER} AND ({OF_PROJECT})"),
    ("progress_reports", "progress_reports_app_scope"): (OF_PROJECT, f"{WRITER} AND ({OF_PROJECT})"),
}

# 0015's forms, for the downgrade.
OLD_IN_DISTRICTS = f"district_code = ANY ({DISTRICTS}::text[])"


def _old_write(using: str, check: str | None = None) -> tuple[str, str]:
    return using, f"{WRITER} AND ({check or using})"


OLD_POLICIES = {
    ("projects", "projects_app_scope"): _old_write(
        f"{ALL_ROWS} OR {OLD_IN_DISTRICTS} OR id IN {VISIBLE_PROJECTS}",
        f"{ALL_ROWS} OR {OLD_IN_DISTRICTS} OR ({DISTRICTS} IS NULL AND id IN {VISIBLE_PROJECTS})"),
    ("project_towns", "project_towns_app_scope"): _old_write(f"{ALL_ROWS} OR project_id IN {VISIBLE_PROJECTS}"),
    ("progress_reports", "progress_reports_app_scope"): _old_write(f"{ALL_ROWS} OR project_id IN {VISIBLE_PROJECTS}"),
}


def _alter_policies(policies: dict) -> None:
    for (table, policy), (using, check) in policies.items():
        op.execute(f"ALTER POLICY {policy} ON {table} USING ({using}) WITH CHECK ({check})")


def upgrade() -> None:
    op.execute(FUNCTION)
    for signature in NEW_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    _alter_policies(POLICIES)


def downgrade() -> None:
    _alter_policies(OLD_POLICIES)
    for signature in NEW_FUNCTIONS:
        op.execute(f"DROP FUNCTION {signature}")
