"""importlean: a town share's project checked once per statement, two low-cardinality indexes fewer
(issue 13 item 2)

``project_towns.project_id → projects.id`` was the last real foreign key on the import's path: its
per-row check locks every referenced project ``FOR KEY SHARE`` (a tuple lock and a WAL record
each), about 1.7 s of a 100 000-row import. Locking the same projects set-based costs as much
(0013), and an import's projects need no lock at all: it has just inserted or updated them, so a
concurrent delete already waits for it. Instead:

* **Writers of shares** (``eqreg_check_project_town_refs``, the statement trigger of 0013, which
  keeps its town check) take a *shared* transaction-level advisory lock, then look for a project id
  that is missing. In READ COMMITTED that look is a fresh snapshot, so a delete committed meanwhile is
  seen. Under REPEATABLE READ or SERIALIZABLE, whose snapshot is older, the referenced projects are
  locked ``FOR KEY SHARE`` as a foreign key does (a concurrent delete is then a serialization failure).
* **Deleting projects** takes the same advisory lock *exclusively* before the first row goes (a
  statement trigger), so it waits for every transaction that wrote shares to end, and no share can
  be written for the projects while the delete is open; after the statement the projects' shares
  are deleted (the former ``ON DELETE CASCADE``), from a fresh snapshot that sees the shares committed
  while it waited. Outside READ COMMITTED such a delete is refused: its snapshot could not see them.
  Projects are soft-deleted by the registry; hard deletes are an owner's or a test's.
* ``TRUNCATE projects`` empties ``project_towns`` too, and changing a project's id while shares name
  it is refused (``eqreg_refuse_referenced_change`` of 0013), as the foreign key did.

The refusals keep the foreign key's SQLSTATE 23503 and constraint name
(``fk_project_towns_project_id_projects``).

``ix_projects_stage`` and ``ix_projects_domain_code`` are dropped: each key is a sixth or a tenth of
the projects, a share no plan reads through a btree (``ix_projects_district_stage`` serves a
district's stages), and their many duplicates made them the costliest btrees to insert into —
together about 1 s of the 100 000 inserts of an import (3.9 → 2.9 s for the bare INSERT).

Revision ID: 0025_importlean
Revises: 0024_gridinc
"""
from alembic import op

revision = '0025_importlean'
down_revision = '0024_gridinc'
branch_labels = None
depends_on = None

CONSTRAINT = "fk_project_towns_project_id_projects"
# one bigint key: apart from the two-int4 keys of the import lock (registry.importing)
LOCK_KEY = "hashtextextended('eqreg.project_towns.project_id', 0)"

_MISSING = """
        IF FOUND THEN
            RAISE EXCEPTION 'insert or update on table "project_towns" violates foreign key constraint "%"', '{name}'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{name}', TABLE = 'project_towns',
                      COLUMN = '{column}',
                      DETAIL = format('Key ({column})=(%s) is not present in table "{ref_table}".', missing);
        END IF;"""

CHECK_SHARES = f"""
CREATE OR REPLACE FUNCTION eqreg_check_project_town_refs() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    keys_town_id integer[];
    missing text;
BEGIN
    -- the town (0013): a few distinct keys, locked like a foreign key's
    keys_town_id := ARRAY(SELECT DISTINCT n.town_id FROM new_rows n WHERE n.town_id IS NOT NULL);
    PERFORM 1 FROM towns r WHERE r.id = ANY(keys_town_id) FOR KEY SHARE;
    SELECT k::text INTO missing FROM unnest(keys_town_id) k
    WHERE NOT EXISTS (SELECT 1 FROM towns r WHERE r.id = k) LIMIT 1;
{_MISSING.format(name="fk_project_towns_town_id_towns", column="town_id", ref_table="towns")}
    -- the project: no delete of projects runs or starts until this transaction ends
    PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        PERFORM 1 FROM projects p WHERE p.id IN (SELECT n.project_id FROM new_rows n) FOR KEY SHARE;
    END IF;
    SELECT n.project_id::text INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = n.project_id) LIMIT 1;
{_MISSING.format(name=CONSTRAINT, column="project_id", ref_table="projects")}
    RETURN NULL;
END $$"""

PROJECT_DELETE = f"""
CREATE FUNCTION eqreg_project_delete() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_WHEN = 'BEFORE' THEN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION '项目只能在 READ COMMITTED 事务中物理删除（其镇街分摊随之删除）'
                USING ERRCODE = 'feature_not_supported', TABLE = 'projects';
        END IF;
        PERFORM pg_advisory_xact_lock({LOCK_KEY});
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM project_towns;
    ELSE
        DELETE FROM project_towns pt WHERE pt.project_id IN (SELECT o.id FROM old_rows o);
    END IF;
    RETURN NULL;
END $$"""

TRIGGERS = (
    "CREATE TRIGGER projects_shares_lock BEFORE DELETE ON projects "
    "FOR EACH STATEMENT EXECUTE FUNCTION eqreg_project_delete()",
    "CREATE TRIGGER projects_shares_delete AFTER DELETE ON projects REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION eqreg_project_delete()",
    "CREATE TRIGGER projects_shares_truncate AFTER TRUNCATE ON projects "
    "FOR EACH STATEMENT EXECUTE FUNCTION eqreg_project_delete()",
    "CREATE TRIGGER projects_in_use_project_towns AFTER UPDATE OF id ON projects FOR EACH ROW "
    f"EXECUTE FUNCTION eqreg_refuse_referenced_change('id', 'project_towns', 'project_id', '{CONSTRAINT}')",
)


LEAN_INDEXES = (("ix_projects_stage", "stage"), ("ix_projects_domain_code", "domain_code"))


def upgrade() -> None:
    for name, _column in LEAN_INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE project_towns DROP CONSTRAINT {CONSTRAINT}")
    op.execute(CHECK_SHARES)
    op.execute(PROJECT_DELETE)
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    for name, column in LEAN_INDEXES:
        op.execute(f"CREATE INDEX {name} ON projects ({column})")
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger.split()[2]} ON projects")
    op.execute("DROP FUNCTION eqreg_project_delete()")
    op.execute("DROP FUNCTION eqreg_check_project_town_refs() CASCADE")
    op.execute(_town_check_of_0013())
    for event in ("insert", "update"):
        op.execute(f"CREATE TRIGGER project_towns_refs_{event} AFTER {event.upper()} ON project_towns "
                   "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "
                   "eqreg_check_project_town_refs()")
    op.execute(f"ALTER TABLE project_towns ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (project_id) "
               "REFERENCES projects (id) ON DELETE CASCADE")


def _town_check_of_0013() -> str:
    from migrations import revision_module
    return revision_module("0013_importspeed.py")._check_function("eqreg_check_project_town_refs", "project_towns")
