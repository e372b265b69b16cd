"""progress periods: each report belongs to a reporting month; a later one for the month supersedes

* ``period`` ('YYYY-MM'), backfilled from ``reported_on``; new reports default to the month of
  their date.
* ``superseded_at`` / ``superseded_by``: a second report for the same project and month replaces
  the first, which is kept and marked (DESIGN §9). Existing duplicates are marked on upgrade, the
  newest report of each month staying current.
* A partial unique index: one current (not superseded) report per project and month.
* The app role may set only the two supersede columns; reports stay otherwise unchangeable.

Revision ID: 0008_progress_periods
Revises: 0007_targets
"""
from alembic import op
import sqlalchemy as sa

revision = '0008_progress_periods'
down_revision = '0007_targets'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"


def upgrade() -> None:
    op.add_column('progress_reports', sa.Column('period', sa.String(length=7), nullable=True))
    op.add_column('progress_reports', sa.Column('superseded_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('progress_reports', sa.Column('superseded_by', sa.BigInteger(), nullable=True))
    op.execute("UPDATE progress_reports SET period = to_char(reported_on, 'YYYY-MM')")
    # Older duplicates of a month: the newest (by date, then id) stays current.
    op.execute("""
        UPDATE progress_reports r SET superseded_at = now(), superseded_by = newer.id
        FROM (SELECT id, first_value(id) OVER w AS newest_id,
                     lead(id) OVER (PARTITION BY project_id, period ORDER BY reported_on, id) AS next_id
              FROM progress_reports
              WINDOW w AS (PARTITION BY project_id, period ORDER BY reported_on DESC, id DESC)) ranked
        JOIN progress_reports newer ON newer.id = ranked.next_id
        WHERE r.id = ranked.id AND ranked.id <> ranked.newest_id""")
    op.alter_column('progress_reports', 'period', nullable=False)
    op.create_check_constraint(op.f('ck_progress_reports_period_format'), 'progress_reports',
                               "period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'")
    op.create_foreign_key(op.f('fk_progress_reports_superseded_by_progress_reports'), 'progress_reports',
                          'progress_reports', ['superseded_by'], ['id'])
    op.create_index('uq_progress_reports_current_period', 'progress_reports', ['project_id', 'period'],
                    unique=True, postgresql_where=sa.text('superseded_at IS NULL'))
    op.create_index('ix_progress_reports_period_current', 'progress_reports', ['period', 'project_id'],
                    postgresql_where=sa.text('superseded_at IS NULL'))
    op.execute(f"GRANT UPDATE (superseded_at, superseded_by) ON progress_reports TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE UPDATE (superseded_at, superseded_by) ON progress_reports FROM {APP_ROLE}")
    op.drop_index('ix_progress_reports_period_current', table_name='progress_reports')
    op.drop_index('uq_progress_reports_current_period', table_name='progress_reports')
    op.drop_constraint(op.f('fk_progress_reports_superseded_by_progress_reports'), 'progress_reports',
                       type_='foreignkey')
    op.drop_constraint(op.f('ck_progress_reports_period_format'), 'progress_reports', type_='check')
    op.drop_column('progress_reports', 'superseded_by')
    op.drop_column('progress_reports', 'superseded_at')
    op.drop_column('progress_reports', 'period')
