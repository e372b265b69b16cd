"""The change stamp also moves with districts and plan targets (the API's response cache key)

``registry_changes.stamp`` (0005) moved only with projects, project_towns, towns and
progress_reports. The JSON API now caches whole responses per (epoch, stamp, scope, query)
(``web/api/response_cache.py``), and ``/api/v1/targets`` also reads districts and the plan
targets: the same statement trigger is added to those tables, so that a committed change to a
target, an entry or a jurisdiction is seen by the next read in every worker.

Revision ID: 0012_apicache
Revises: 0011_scope
"""
from alembic import op

revision = '0012_apicache'
down_revision = '0011_scope'
branch_labels = None
depends_on = None

WATCHED = ("districts", "target_jurisdictions", "targets", "target_entries")


def upgrade() -> None:
    for table in WATCHED:
        op.execute(f"CREATE TRIGGER {table}_note_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                   f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION eqreg_note_change()")


def downgrade() -> None:
    for table in WATCHED:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_note_change ON {table}")
