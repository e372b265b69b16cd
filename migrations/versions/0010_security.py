"""security: server-side browser sessions, aggregated refusals, a sign-in attempt index

* ``user_sessions``: one row per browser session. The cookie carries only a random id; the row
  keeps its SHA-256, the session's data (CSRF token, flashed messages, Flask-Login's fields), the
  user once signed in, an absolute expiry and ``revoked_at`` (logout, admin revoke, password
  change, disabling). See ``registry/user_sessions.py`` and ``web/sessions.py``.
* ``refusal_counts``: refused requests counted per (actor, route, status) per 10-minute window;
  the first of a window is written to the audit trail, the rest only increment the count here.
* ``login_attempts(at)``: the clean-up of old attempts runs on every sign-in.
* The web role no longer reads ``users.password_hash`` (it may still write it): column grants
  instead of ``SELECT`` on the table, and sign-in reads one user's hash through the definer
  function ``eqreg_password_hash(username)``: no query returns the column itself (an injection
  could still call the function per username; see docs/security.md).
  Columns added to ``users`` later need their own ``GRANT SELECT (col)``.

Revision ID: 0010_security
Revises: 0009_ops
"""
from alembic import op
import sqlalchemy as sa

revision = '0010_security'
down_revision = '0009_ops'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
USER_COLUMNS = "id, username, display_name, role, active, created_at, last_login_at"


def upgrade() -> None:
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('secret_hash', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('data', sa.dialects.postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ip', sa.Text(), nullable=True),
        sa.Column('user_agent', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_sessions_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('secret_hash', name=op.f('uq_user_sessions_secret_hash')),
    )
    op.create_index('ix_user_sessions_user_id', 'user_sessions', ['user_id'])
    op.create_index('ix_user_sessions_expires_at', 'user_sessions', ['expires_at'])
    op.create_table(
        'refusal_counts',
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('route', sa.Text(), nullable=False),
        sa.Column('status', sa.SmallInteger(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), server_default=sa.text('1'), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_path', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('actor', 'route', 'status', 'window_start', name=op.f('pk_refusal_counts')),
    )
    op.create_index('ix_login_attempts_at', 'login_attempts', ['at'])
    # Default privileges (migration 0002) already grant the app role these tables; spelled out so
    # the grants do not depend on who ran that migration.
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON user_sessions, refusal_counts TO {APP_ROLE}")
    op.execute(f"REVOKE SELECT ON users FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ({USER_COLUMNS}) ON users TO {APP_ROLE}")
    op.execute("""
    CREATE FUNCTION eqreg_password_hash(p_username text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
      SELECT password_hash FROM users WHERE username = p_username
    $$""")
    op.execute("REVOKE ALL ON FUNCTION eqreg_password_hash(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION eqreg_password_hash(text) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION eqreg_password_hash(text)")
    op.execute(f"REVOKE SELECT ({USER_COLUMNS}) ON users FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON users TO {APP_ROLE}")
    op.drop_index('ix_login_attempts_at', table_name='login_attempts')
    op.drop_table('refusal_counts')
    op.drop_index('ix_user_sessions_expires_at', table_name='user_sessions')
    op.drop_index('ix_user_sessions_user_id', table_name='user_sessions')
    op.drop_table('user_sessions')
