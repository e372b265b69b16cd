"""accounts (users, towns, API tokens, login attempts), the eqreg_app role and row-level security

The web application runs as ``eqreg_app``: not the tables' owner, not a superuser. PostgreSQL
then enforces the scoping rule of DESIGN §6 itself, from two per-transaction settings the app
sets with ``set_config(..., true)`` (see ``registry.scope.apply``):

* ``eqreg.role``  — admin | bureau | planner | system see every row; anything else (town,
  anonymous, unset) sees only
* ``eqreg.towns`` — comma-separated 9-digit town codes: projects with a share in one of them.

Unset settings mean nothing is visible. The role that runs migrations (the owner) keeps a
permissive policy so the CLI and later migrations work even if it is not a superuser.

Revision ID: 0002_accounts_and_rls
Revises: 0001_core_schema
"""
from alembic import op
import sqlalchemy as sa

revision = '0002_accounts_and_rls'
down_revision = '0001_core_schema'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
SCOPED_TABLES = ("projects", "project_towns", "import_batches", "audit_log")

# Small SQL helpers the policies share. Plain SQL functions are inlined by the planner.
HELPERS = """
CREATE FUNCTION eqreg_sees_all() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(current_setting('eqreg.role', true), '') IN ('admin', 'bureau', 'planner', 'system')
$$;
CREATE FUNCTION eqreg_scope_towns() RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_to_array(nullif(current_setting('eqreg.towns', true), ''), ','), '{}')
$$;
-- SECURITY DEFINER: a policy on project_towns cannot query project_towns through its own policy
-- (infinite recursion), so the share lookup runs with the owner's rights.
CREATE FUNCTION eqreg_project_in_scope(pid bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT eqreg_sees_all() OR EXISTS (
    SELECT 1 FROM project_towns WHERE project_id = pid AND town_code = ANY (eqreg_scope_towns()))
$$;
"""

VISIBLE = {
    "projects": "eqreg_sees_all() OR EXISTS (SELECT 1 FROM project_towns pt "
                "WHERE pt.project_id = projects.id AND pt.town_code = ANY (eqreg_scope_towns()))",
    "project_towns": "eqreg_sees_all() OR town_code = ANY (eqreg_scope_towns()) "
                     "OR eqreg_project_in_scope(project_id)",
    "import_batches": "eqreg_sees_all() OR EXISTS (SELECT 1 FROM projects p "
                      "WHERE p.import_batch_id = import_batches.id)",
    "audit_log": "eqreg_sees_all() OR (entity = 'project' AND entity_id ~ '^[0-9]{1,18}$' "
                 "AND eqreg_project_in_scope(entity_id::bigint))",
}


def upgrade() -> None:
    _create_account_tables()
    _create_app_role()
    op.execute(HELPERS)
    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    for table in SCOPED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner_all ON {table} TO {owner} USING (true) WITH CHECK (true)")
    for table in ("projects", "project_towns", "import_batches"):
        op.execute(f"CREATE POLICY {table}_app_scope ON {table} TO {APP_ROLE} "
                   f"USING ({VISIBLE[table]}) WITH CHECK ({VISIBLE[table]})")
    # The audit trail is append-only for the app: anyone signed in (or failing to) may add an
    # entry; reading follows the project scope.
    op.execute(f"CREATE POLICY audit_log_app_read ON audit_log FOR SELECT TO {APP_ROLE} "
               f"USING ({VISIBLE['audit_log']})")
    op.execute(f"CREATE POLICY audit_log_app_append ON audit_log FOR INSERT TO {APP_ROLE} WITH CHECK (true)")
    _grant(owner)


def _create_account_tables() -> None:
    op.create_table(
        'users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('display_name', sa.Text(), nullable=True),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=True),
        sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'bureau', 'town', 'planner')", name=op.f('ck_users_role')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
        sa.UniqueConstraint('username', name=op.f('uq_users_username')),
    )
    op.create_table(
        'user_towns',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('town_code', sa.String(length=9), nullable=False),
        sa.CheckConstraint("town_code ~ '^[0-9]{9}$'", name=op.f('ck_user_towns_town_code_digits')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_user_towns_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'town_code', name=op.f('pk_user_towns')),
    )
    op.create_table(
        'api_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash')),
    )
    op.create_index(op.f('ix_api_tokens_user_id'), 'api_tokens', ['user_id'], unique=False)
    op.create_table(
        'login_attempts',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('username', sa.Text(), nullable=False),
        sa.Column('ip', sa.Text(), nullable=False),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempts')),
    )
    op.create_index('ix_login_attempts_username_ip_at', 'login_attempts', ['username', 'ip', 'at'])
    op.create_index('ix_login_attempts_ip_at', 'login_attempts', ['ip', 'at'])


def _create_app_role() -> None:
    # Roles are cluster-wide: several databases (and parallel test runs) share one eqreg_app.
    op.execute(f"""
    DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
        CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$""")


def _grant(owner: str) -> None:
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON projects, project_towns, import_batches, districts, towns, "
               f"domains, categories, funding_sources, user_towns, login_attempts, api_tokens TO {APP_ROLE}")
    # No DELETE on users (disable instead) and nothing but INSERT on the audit trail.
    op.execute(f"GRANT INSERT, UPDATE ON users TO {APP_ROLE}")
    op.execute(f"GRANT INSERT ON audit_log TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION eqreg_sees_all(), eqreg_scope_towns(), "
               f"eqreg_project_in_scope(bigint) TO {APP_ROLE}")
    # Tables added by later migrations are usable by the app without another grant.
    op.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
               f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
               f"GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")


def downgrade() -> None:
    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    op.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
               f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
               f"REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE}")
    for table in SCOPED_TABLES:
        for policy in ("owner_all", "app_scope", "app_read", "app_append"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{policy} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP FUNCTION eqreg_project_in_scope(bigint)")
    op.execute("DROP FUNCTION eqreg_scope_towns()")
    op.execute("DROP FUNCTION eqreg_sees_all()")
    op.drop_table('login_attempts')
    op.drop_table('api_tokens')
    op.drop_table('user_towns')
    op.drop_table('users')
    # The role is cluster-wide and may serve other databases: only this database's grants go.
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
