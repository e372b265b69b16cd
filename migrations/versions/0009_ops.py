"""town notices: a town official is told when a boundary reload moved projects out of their town

One row per (reload, town that lost projects): which projects went where, and the boundary
version. The app reads them under row-level security (a town official sees their towns' notices);
only the CLI's boundary load (the owner) writes them.

Revision ID: 0009_ops
Revises: 0008_progress_periods
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0009_ops'
down_revision = '0008_progress_periods'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"


def upgrade() -> None:
    op.create_table(
        'town_notices',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('town_code', sa.String(length=9), nullable=False),
        sa.Column('district_code', sa.String(length=6), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('boundary_version', sa.Integer(), nullable=True),
        sa.Column('source', sa.Text(), nullable=True),
        sa.Column('projects', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_town_notices')),
    )
    op.create_index('ix_town_notices_town_code_at', 'town_notices', ['town_code', 'at'])
    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    op.execute("ALTER TABLE town_notices ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE town_notices FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY town_notices_owner_all ON town_notices TO {owner} USING (true) WITH CHECK (true)")
    op.execute(f"CREATE POLICY town_notices_app_read ON town_notices FOR SELECT TO {APP_ROLE} "
               "USING (eqreg_sees_all() OR town_code = ANY (eqreg_scope_towns()))")
    op.execute(f"REVOKE ALL ON town_notices FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON town_notices TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS town_notices_app_read ON town_notices")
    op.execute("DROP POLICY IF EXISTS town_notices_owner_all ON town_notices")
    op.drop_index('ix_town_notices_town_code_at', table_name='town_notices')
    op.drop_table('town_notices')
