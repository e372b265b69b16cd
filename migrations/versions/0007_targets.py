"""plan targets (DESIGN §5a): jurisdictions, targets and hand-entered values/baselines

* ``target_jurisdictions``: a district (6-digit code) or a zone (度假区/开发区, a letter code such
  as ``jbsc``) whose plan sets targets; a zone may carry its boundary (EPSG:4326) — without one its
  targets report ``no_data``.
* ``targets``: one quantitative target of a plan, loaded from a YAML file (idempotent by ``id``).
* ``target_entries``: values (metric ``reported``) and baselines the bureau enters by hand,
  append-only (the latest wins), each also in the audit log.

Targets are plan text, not project data: every signed-in role may read them (figures are scoped
when they are computed). The app role may change them only as admin, bureau or system.

Revision ID: 0007_targets
Revises: 0005_api_indexes_change_stamp
"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry

revision = '0007_targets'
down_revision = '0005_api_indexes_change_stamp'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
TABLES = ("target_jurisdictions", "targets", "target_entries")
EDITOR = "coalesce(current_setting('eqreg.role', true), '') IN ('admin', 'bureau', 'system')"


def upgrade() -> None:
    op.create_table(
        'target_jurisdictions',
        sa.Column('code', sa.String(length=12), nullable=False),
        sa.Column('name', sa.Text(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('parent_code', sa.String(length=6), nullable=True),
        sa.Column('document', sa.Text(), nullable=True),
        sa.Column('geom', Geometry('MULTIPOLYGON', 4326, spatial_index=False), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('district', 'zone')", name=op.f('ck_target_jurisdictions_kind')),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_target_jurisdictions')),
    )
    op.create_table(
        'targets',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('jurisdiction_code', sa.String(length=12), nullable=False),
        sa.Column('position', sa.Integer(), server_default='0', nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('metric', sa.String(length=32), nullable=False),
        sa.Column('filter', sa.dialects.postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column('threshold', sa.Numeric(18, 4), nullable=False),
        sa.Column('unit', sa.Text(), nullable=True),
        sa.Column('deadline', sa.Date(), nullable=False),
        sa.Column('time_window', sa.String(length=16), server_default='cumulative', nullable=False),
        sa.Column('file_baseline', sa.Numeric(18, 4), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("time_window IN ('cumulative', 'per_year')", name=op.f('ck_targets_time_window')),
        sa.ForeignKeyConstraint(['jurisdiction_code'], ['target_jurisdictions.code'],
                                name=op.f('fk_targets_jurisdiction_code_target_jurisdictions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_targets')),
    )
    op.create_index(op.f('ix_targets_jurisdiction_code'), 'targets', ['jurisdiction_code'])
    op.create_table(
        'target_entries',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('target_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('value', sa.Numeric(18, 4), nullable=False),
        sa.Column('as_of', sa.Date(), nullable=False),
        sa.Column('entered_by', sa.Text(), nullable=False),
        sa.Column('entered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.CheckConstraint("kind IN ('value', 'baseline')", name=op.f('ck_target_entries_kind')),
        sa.ForeignKeyConstraint(['target_id'], ['targets.id'],
                                name=op.f('fk_target_entries_target_id_targets'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_target_entries')),
    )
    op.create_index('ix_target_entries_target_kind', 'target_entries', ['target_id', 'kind', 'as_of'])

    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner_all ON {table} TO {owner} USING (true) WITH CHECK (true)")
        op.execute(f"CREATE POLICY {table}_app_read ON {table} FOR SELECT TO {APP_ROLE} USING (true)")
    for table in ("target_jurisdictions", "targets"):
        op.execute(f"CREATE POLICY {table}_app_write ON {table} FOR ALL TO {APP_ROLE} "
                   f"USING ({EDITOR}) WITH CHECK ({EDITOR})")
    # Entries are a record: added, never changed or removed by the app.
    op.execute(f"CREATE POLICY target_entries_app_append ON target_entries FOR INSERT TO {APP_ROLE} "
               f"WITH CHECK ({EDITOR})")
    op.execute(f"REVOKE ALL ON {', '.join(TABLES)} FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON target_jurisdictions, targets TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON target_entries TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE target_entries_id_seq TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(TABLES):
        for policy in ("owner_all", "app_read", "app_write", "app_append"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{policy} ON {table}")
    op.drop_index('ix_target_entries_target_kind', table_name='target_entries')
    op.drop_table('target_entries')
    op.drop_index(op.f('ix_targets_jurisdiction_code'), table_name='targets')
    op.drop_table('targets')
    op.drop_table('target_jurisdictions')
