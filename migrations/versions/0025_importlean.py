"""importlean: a town share's project checked once per statement, two low-cardinality indexes fewer
(issue 13 item 2)

``project_towns.project_id → projects.id`` was the last real foreign key on the import's path: its
per-row check locks every referenced project ``FOR KEY SHARE`` (a tuple lock and a WAL record
each), about 1.7 s of a 100 000-row import. Locking the same projects set-based costs as much
(0013). Instead:

* **Writers of shares** (``eqreg_check_project_town_refs``, the statement trigger of 0013, which
  keeps its town check) take a *shared* transaction-level advisory lock, then look for a project id
  that is missing. In READ COMMITTED that look is a fresh snapshot, so a delete committed meanwhile is
  seen. Under REPEATABLE READ or SERIALIZABLE, whose snapshot is older, the referenced projects are
  also locked ``FOR KEY SHARE`` as a foreign key does.
* **Deleting projects** deletes the rows first (waiting, as before, for any transaction that locked
  or changed them: the import locks its stored projects before it writes their shares, an edit locks
  its project), then, after the statement, takes the advisory lock *exclusively* — waiting for every
  open writer of shares to end, and keeping new ones out — and deletes the projects' shares from a
  fresh snapshot that sees the shares committed while it waited (the former ``ON DELETE CASCADE``).
  A share written after that waits for the delete and is then refused. The lock is taken after the
  delete's row locks, never before them, so an import that holds rows and then writes shares cannot
  deadlock with it. Outside READ COMMITTED a delete is refused (its snapshot could not see those
  shares). Projects are soft-deleted by the registry; a hard delete is an owner's maintenance, and
  while it waits for the lock every writer of shares queues behind it (set ``lock_timeout``).
* ``TRUNCATE projects`` empties ``project_towns`` too, and changing a project's id is refused while
  shares name it — after taking the advisory lock exclusively, so shares written meanwhile count —,
  as the foreign key did; both in READ COMMITTED only, like a delete.
* Under REPEATABLE READ a writer locks the projects ``FOR KEY SHARE`` *before* the advisory lock, so
  it waits for a delete holding them without holding what that delete will ask for.
* A raw transaction that has already changed shares (holds their rows) and then writes another share
  can deadlock with a hard delete that is waiting for those rows; PostgreSQL aborts one of the two,
  and nothing is half-written. The registry's own writers lock their projects first and never do this.

The refusals keep the foreign key's SQLSTATE 23503 and constraint name
(``fk_project_towns_project_id_projects``).

``ix_projects_stage`` and ``ix_projects_domain_code`` are dropped: their many duplicate keys made
them the costliest btrees to insert into — together about 1 s of the 100 000 inserts of an import
(3.9 → 2.9 s for the bare INSERT). What read them: a province-wide filter on a rare stage or domain
(3–5 % of the projects: a bitmap scan before, a parallel scan now), ``sort=stage``/``sort=domain``
of the project list (a top-N sort now, as for every other sortable column but the code, the town and
the update time), and refusing to delete a domain still in use (a scan that stops at the first
project, a whole scan for an unused domain: rare, by an admin). ``ix_projects_district_stage``
still serves a district's stages.

Revision ID: 0025_importlean
Revises: 0024_gridinc
"""
from alembic import op

from migrations import revision_module

revision = '0025_importlean'
down_revision = '0024_gridinc'
branch_labels = None
depends_on = None

CONSTRAINT = "fk_project_towns_project_id_projects"
# one bigint key: apart from the two-int4 keys of the import lock (registry.importing)
LOCK_KEY = "hashtextextended('eqreg.project_towns.project_id', 0)"

# 0013's check of the share's town, as it was
_TOWN_CHECK = revision_module("0013_importspeed.py")._KEY_CHECK.format(
    name="fk_project_towns_town_id_towns", table="project_towns", column="town_id", ref_table="towns",
    ref_column="id")

CHECK_SHARES = f"""
CREATE OR REPLACE FUNCTION eqreg_check_project_town_refs() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    keys_town_id integer[];
    missing text;
BEGIN
    -- the town (0013): a few distinct keys, locked like a foreign key's
    keys_town_id := ARRAY(SELECT DISTINCT n.town_id FROM new_rows n WHERE n.town_id IS NOT NULL);
{_TOWN_CHECK}
    -- the project: under an older snapshot its row locked first, as a foreign key does (before the
    -- advisory lock, which a delete waiting for that row would otherwise need: a deadlock)
    IF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        PERFORM 1 FROM projects p WHERE p.id IN (SELECT n.project_id FROM new_rows n) FOR KEY SHARE;
    END IF;
    -- a delete of projects (or a change of their id) takes their shares only once this transaction has ended
    PERFORM pg_advisory_xact_lock_shared({LOCK_KEY});
    SELECT n.project_id::text INTO missing FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = n.project_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "project_towns" violates foreign key constraint "{CONSTRAINT}"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{CONSTRAINT}', TABLE = 'project_towns',
                  COLUMN = 'project_id',
                  DETAIL = format('Key (project_id)=(%s) is not present in table "projects".', missing);
    END IF;
    RETURN NULL;
END $$"""

PROJECT_SHARES = f"""
CREATE FUNCTION eqreg_guard_project_shares() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.id = NEW.id THEN
        RETURN NULL;
    ELSIF current_setting('transaction_isolation') NOT IN ('read committed', 'read uncommitted') THEN
        RAISE EXCEPTION '项目只能在 READ COMMITTED 事务中物理删除或更改编号（其镇街分摊随之检查）'
            USING ERRCODE = 'feature_not_supported', TABLE = 'projects';
    ELSIF TG_OP = 'TRUNCATE' THEN
        DELETE FROM project_towns;  -- TRUNCATE waited for every transaction that read projects
    ELSIF TG_OP = 'UPDATE' THEN  -- a project's id, changed: refused while shares name it, also those written meanwhile
        PERFORM pg_advisory_xact_lock({LOCK_KEY});
        IF EXISTS (SELECT 1 FROM project_towns pt WHERE pt.project_id = OLD.id) THEN
            RAISE EXCEPTION 'update or delete on table "projects" violates foreign key constraint "{CONSTRAINT}" on table "project_towns"'
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = '{CONSTRAINT}', TABLE = 'project_towns';
        END IF;
    ELSIF TG_WHEN = 'AFTER' THEN  -- the rows are gone: wait for the open writers of shares, then see what they committed
        PERFORM pg_advisory_xact_lock({LOCK_KEY});
        DELETE FROM project_towns pt WHERE pt.project_id IN (SELECT o.id FROM old_rows o);
    END IF;
    RETURN NULL;
END $$"""

TRIGGERS = (
    "CREATE TRIGGER projects_shares_isolation BEFORE DELETE ON projects "
    "FOR EACH STATEMENT EXECUTE FUNCTION eqreg_guard_project_shares()",
    "CREATE TRIGGER projects_shares_delete AFTER DELETE ON projects REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION eqreg_guard_project_shares()",
    "CREATE TRIGGER projects_shares_truncate AFTER TRUNCATE ON projects "
    "FOR EACH STATEMENT EXECUTE FUNCTION eqreg_guard_project_shares()",
    "CREATE TRIGGER projects_shares_id AFTER UPDATE OF id ON projects FOR EACH ROW "
    "EXECUTE FUNCTION eqreg_guard_project_shares()",
)


LEAN_INDEXES = (("ix_projects_stage", "stage"), ("ix_projects_domain_code", "domain_code"))


def upgrade() -> None:
    for name, _column in LEAN_INDEXES:
        op.execute(f"DROP INDEX {name}")
    op.execute(f"ALTER TABLE project_towns DROP CONSTRAINT {CONSTRAINT}")
    op.execute(CHECK_SHARES)
    op.execute(PROJECT_SHARES)
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    for name, column in LEAN_INDEXES:
        op.execute(f"CREATE INDEX {name} ON projects ({column})")
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger.split()[2]} ON projects")
    op.execute("DROP FUNCTION eqreg_guard_project_shares()")
    op.execute(_town_check_of_0013())
    op.execute(f"ALTER TABLE project_towns ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (project_id) "
               "REFERENCES projects (id) ON DELETE CASCADE")


def _town_check_of_0013() -> str:
    body = revision_module("0013_importspeed.py")._check_function("eqreg_check_project_town_refs", "project_towns")
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)  # its triggers and grants stay
