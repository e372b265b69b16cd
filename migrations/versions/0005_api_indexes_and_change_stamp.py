"""API indexes and the registry change stamp (cache key for figures and list totals)

* Indexes matching the project list's default sort (``-updated_at``, then id) over live
  projects, overall and per district, so a page of 20 is read from the index instead of sorting
  every visible project.
* ``registry_changes``: one row, ``stamp`` bumped once per committed transaction that wrote to
  projects, project_towns, towns or progress_reports (``epoch`` is random per database, so a
  re-created database never reuses a stamp). Figures and totals are cached in the web process per
  (epoch, stamp, scope, query) — see ``registry/cache.py``.

  The bump must not lock the stamp row early: a statement-level trigger only notes the writing
  transaction in ``registry_change_requests`` (one row per transaction); a deferred constraint
  trigger on that row bumps the stamp at commit, after the transaction's last statement, so the
  stamp's row lock is held only for the commit itself and can never take part in a deadlock with
  project rows. A transaction's own request row is visible only to itself: readers that see one
  have uncommitted writes and bypass the cache.

Revision ID: 0005_api_indexes_change_stamp
Revises: 0004_town_parts
"""
from alembic import op
import sqlalchemy as sa

revision = '0005_api_indexes_change_stamp'
down_revision = '0004_town_parts'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
WATCHED = ("projects", "project_towns", "towns", "progress_reports")


def upgrade() -> None:
    op.execute("CREATE INDEX ix_projects_live_updated ON projects (updated_at DESC NULLS LAST, id) "
               "WHERE deleted_at IS NULL")
    op.execute("CREATE INDEX ix_projects_live_district_updated ON projects "
               "(district_code, updated_at DESC NULLS LAST, id) WHERE deleted_at IS NULL")
    op.execute("""
        CREATE TABLE registry_changes (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            epoch bigint NOT NULL DEFAULT (floor(random() * 9e15))::bigint,
            stamp bigint NOT NULL DEFAULT 0
        );
        INSERT INTO registry_changes DEFAULT VALUES;
        CREATE TABLE registry_change_requests (txid bigint PRIMARY KEY);

        CREATE FUNCTION eqreg_note_change() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            INSERT INTO registry_change_requests VALUES (txid_current()) ON CONFLICT DO NOTHING;
            RETURN NULL;
        END $$;

        CREATE FUNCTION eqreg_bump_change_stamp() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
            UPDATE registry_changes SET stamp = stamp + 1;
            DELETE FROM registry_change_requests WHERE txid = NEW.txid;
            RETURN NULL;
        END $$;

        CREATE CONSTRAINT TRIGGER registry_change_requests_bump AFTER INSERT ON registry_change_requests
            DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION eqreg_bump_change_stamp();
    """)
    for table in WATCHED:
        op.execute(f"CREATE TRIGGER {table}_note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION eqreg_note_change()")
    # The app reads the stamp; only the trigger functions (as the owner) write it.
    op.execute(f"REVOKE ALL ON registry_changes, registry_change_requests FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON registry_changes, registry_change_requests TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION eqreg_note_change(), eqreg_bump_change_stamp() TO {APP_ROLE}")


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_note_change ON {table}")
    op.execute("DROP TABLE registry_change_requests")
    op.execute("DROP TABLE registry_changes")
    op.execute("DROP FUNCTION eqreg_bump_change_stamp()")
    op.execute("DROP FUNCTION eqreg_note_change()")
    op.execute("DROP INDEX ix_projects_live_district_updated")
    op.execute("DROP INDEX ix_projects_live_updated")
