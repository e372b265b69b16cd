"""progress reports: dated figures filed by the bureau or the project's town officials

Row-level security like the other project tables (see 0002_accounts_and_rls): the app role sees
and adds reports of projects in its scope; the owner keeps a permissive policy. Reports are a
record: the app may add them, never change or remove them.

Revision ID: 0003_progress_reports
Revises: 0002_accounts_and_rls
"""
from alembic import op
import sqlalchemy as sa

revision = '0003_progress_reports'
down_revision = '0002_accounts_and_rls'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
STAGES = ('reserve', 'approval', 'construction', 'completed', 'suspended', 'cancelled')


def upgrade() -> None:
    op.create_table(
        'progress_reports',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('project_id', sa.BigInteger(), nullable=False),
        sa.Column('district_code', sa.String(length=6), nullable=False),
        sa.Column('reported_on', sa.Date(), nullable=False),
        sa.Column('completed_investment', sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column('stage', sa.String(length=16), nullable=True),
        sa.Column('percent', sa.Numeric(precision=5, scale=1), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created_by', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint('completed_investment IS NULL OR completed_investment >= 0',
                           name=op.f('ck_progress_reports_completed_nonnegative')),
        sa.CheckConstraint('percent IS NULL OR percent BETWEEN 0 AND 100',
                           name=op.f('ck_progress_reports_percent_range')),
        sa.CheckConstraint("stage IS NULL OR stage IN (%s)" % ", ".join(f"'{s}'" for s in STAGES),
                           name=op.f('ck_progress_reports_stage')),
        sa.ForeignKeyConstraint(['project_id'], ['projects.id'],
                                name=op.f('fk_progress_reports_project_id_projects'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['district_code'], ['districts.code'],
                                name=op.f('fk_progress_reports_district_code_districts')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_reports')),
    )
    op.create_index('ix_progress_reports_project_reported', 'progress_reports', ['project_id', 'reported_on'])
    op.create_index(op.f('ix_progress_reports_district_code'), 'progress_reports', ['district_code'])

    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    op.execute("ALTER TABLE progress_reports ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE progress_reports FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY progress_reports_owner_all ON progress_reports TO {owner} "
               "USING (true) WITH CHECK (true)")
    op.execute(f"CREATE POLICY progress_reports_app_scope ON progress_reports TO {APP_ROLE} "
               "USING (eqreg_project_in_scope(project_id)) WITH CHECK (eqreg_project_in_scope(project_id))")
    op.execute(f"REVOKE ALL ON progress_reports FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON progress_reports TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE progress_reports_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS progress_reports_app_scope ON progress_reports")
    op.execute("DROP POLICY IF EXISTS progress_reports_owner_all ON progress_reports")
    op.drop_index(op.f('ix_progress_reports_district_code'), table_name='progress_reports')
    op.drop_index('ix_progress_reports_project_reported', table_name='progress_reports')
    op.drop_table('progress_reports')
