"""leveltargets: city and province plan targets, and who reads which targets (issue 14 item 2)

* ``target_jurisdictions.kind`` accepts ``city`` (4-digit code) and ``province`` (2-digit code)
  besides ``district`` and ``zone``.
* Reading targets is scoped (until now every signed-in role read every target). A restrictive
  SELECT policy on each target table ANDs with the permissive ones, so it holds whatever the write
  policies allow: a jurisdiction is visible when the request sees every row, or its code or its
  parent's is one of ``eqreg_target_areas()`` — the request's districts (a district-limited
  account), the districts of its towns (a town user), and the cities and provinces whose every
  district in the registry it sees (a city or province viewer; a bureau of all of a city's
  districts). A target is visible with its jurisdiction, an entry with its target.
* Writing a city's or province's targets and their entries is the administrator's alone:
  restrictive INSERT and UPDATE policies (again ANDed with whatever permissive write policy
  another migration gives) let other roles write only district and zone rows.

``eqreg_target_areas()`` is evaluated once per statement (an initplan, ``(SELECT …)``).

Revision ID: 0018_leveltargets
Revises: 0017_accounts
"""
from alembic import op

revision = '0018_leveltargets'
down_revision = '0017_accounts'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

FUNCTIONS = r"""
-- NULL: every target is visible; otherwise the codes of the districts, cities and provinces whose
-- targets (and whose districts' zones' targets) the request may read. A level counts when the
-- registry holds at least one of its districts and the request sees all of them; a town user sees
-- no level (its figures are its towns' part, never a whole district's).
CREATE FUNCTION eqreg_target_areas() RETURNS text[] LANGUAGE sql STABLE SET search_path = public, pg_temp AS $fn$
  WITH s AS (SELECT towns, districts FROM eqreg_request_scope()),
  seen AS (
    SELECT unnest(s.districts) AS code FROM s
    UNION
    SELECT t.district_code FROM towns t, s WHERE t.valid_to IS NULL AND t.code = ANY (s.towns)
  ),
  levels AS (
    SELECT d.city_code AS code, d.code AS district FROM districts d WHERE d.city_code IS NOT NULL
    UNION ALL
    SELECT d.province_code, d.code FROM districts d WHERE d.province_code IS NOT NULL
  )
  SELECT CASE WHEN s.towns IS NULL AND s.districts IS NULL THEN NULL ELSE ARRAY(
    SELECT code::text FROM seen
    UNION
    SELECT l.code::text FROM levels l WHERE s.districts IS NOT NULL
    GROUP BY l.code HAVING bool_and(l.district IN (SELECT code FROM seen))
  ) END FROM s
$fn$;
"""

AREAS = "(SELECT eqreg_target_areas())"
JURISDICTION_VISIBLE = f"{AREAS} IS NULL OR code = ANY ({AREAS}::text[]) OR parent_code = ANY ({AREAS}::text[])"
ADMIN = "(SELECT eqreg_request_role()) = 'admin'"
NOT_LEVEL = "kind IN ('district', 'zone')"
TARGET_OF_DISTRICT = ("EXISTS (SELECT 1 FROM target_jurisdictions j WHERE j.code = targets.jurisdiction_code "
                      "AND j.kind IN ('district', 'zone'))")
ENTRY_OF_DISTRICT = ("EXISTS (SELECT 1 FROM targets t JOIN target_jurisdictions j ON j.code = t.jurisdiction_code "
                     "WHERE t.id = target_entries.target_id AND j.kind IN ('district', 'zone'))")

# (table, policy, command, USING, WITH CHECK): all restrictive, all for eqreg_app.
POLICIES = (
    ("target_jurisdictions", "target_jurisdictions_app_scope", "SELECT", JURISDICTION_VISIBLE, None),
    ("targets", "targets_app_scope", "SELECT",
     "EXISTS (SELECT 1 FROM target_jurisdictions j WHERE j.code = targets.jurisdiction_code)", None),
    ("target_entries", "target_entries_app_scope", "SELECT",
     "EXISTS (SELECT 1 FROM targets t WHERE t.id = target_entries.target_id)", None),
    ("target_jurisdictions", "target_jurisdictions_app_levels_insert", "INSERT", None, f"{ADMIN} OR {NOT_LEVEL}"),
    ("target_jurisdictions", "target_jurisdictions_app_levels_update", "UPDATE",
     f"{ADMIN} OR {NOT_LEVEL}", f"{ADMIN} OR {NOT_LEVEL}"),
    ("targets", "targets_app_levels_insert", "INSERT", None, f"{ADMIN} OR {TARGET_OF_DISTRICT}"),
    ("targets", "targets_app_levels_update", "UPDATE",
     f"{ADMIN} OR {TARGET_OF_DISTRICT}", f"{ADMIN} OR {TARGET_OF_DISTRICT}"),
    ("target_entries", "target_entries_app_levels_insert", "INSERT", None, f"{ADMIN} OR {ENTRY_OF_DISTRICT}"),
)


def upgrade() -> None:
    op.execute("ALTER TABLE target_jurisdictions DROP CONSTRAINT ck_target_jurisdictions_kind")
    op.execute("ALTER TABLE target_jurisdictions ADD CONSTRAINT ck_target_jurisdictions_kind "
               "CHECK (kind IN ('district', 'zone', 'city', 'province'))")
    op.execute(FUNCTIONS)
    op.execute("REVOKE ALL ON FUNCTION eqreg_target_areas() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION eqreg_target_areas() TO {APP_ROLE}")
    for table, policy, command, using, check in POLICIES:
        clauses = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
        op.execute(f"CREATE POLICY {policy} ON {table} AS RESTRICTIVE FOR {command} TO {APP_ROLE}{clauses}")


def downgrade() -> None:
    for table, policy, *_rest in reversed(POLICIES):
        op.execute(f"DROP POLICY {policy} ON {table}")
    op.execute("DROP FUNCTION eqreg_target_areas()")
    # City and province targets have no place in the older schema: removed with their entries —
    # only when there are any (each DELETE fires the change stamp's deferred trigger, which must not
    # be left pending when a further downgrade drops its table), then the triggers fire at once.
    op.execute("""
DO $do$
BEGIN
  IF EXISTS (SELECT 1 FROM target_jurisdictions WHERE kind IN ('city', 'province')) THEN
    DELETE FROM target_entries WHERE target_id IN (SELECT t.id FROM targets t
      JOIN target_jurisdictions j ON j.code = t.jurisdiction_code WHERE j.kind IN ('city', 'province'));
    DELETE FROM targets WHERE jurisdiction_code IN
      (SELECT code FROM target_jurisdictions WHERE kind IN ('city', 'province'));
    DELETE FROM target_jurisdictions WHERE kind IN ('city', 'province');
    SET CONSTRAINTS ALL IMMEDIATE;
  END IF;
END
$do$""")
    op.execute("ALTER TABLE target_jurisdictions DROP CONSTRAINT ck_target_jurisdictions_kind")
    op.execute("ALTER TABLE target_jurisdictions ADD CONSTRAINT ck_target_jurisdictions_kind "
               "CHECK (kind IN ('district', 'zone'))")
