"""codereach: a code already registered where the importer cannot see is a row error, not a 500

A district bureau importing a row whose 项目代码 belongs to a project of another district cannot
see that project (row-level security), so the import treated the code as new and its upsert then
hit the hidden row: PostgreSQL refuses the ``ON CONFLICT … DO UPDATE`` of a row the policy hides,
and the web import answered 500. ``eqreg_taken_codes(codes)`` says which of the given codes exist
at all; the import compares that with what the caller sees and reports the rest per row
(``code_of_other_district``). It tells a caller only that a code is taken, which creating that
code would tell it anyway (codes are unique across the registry).

Revision ID: 0023_codereach
Revises: 0022_townpage
"""
from alembic import op

revision = '0023_codereach'
down_revision = '0022_townpage'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
SIGNATURE = "eqreg_taken_codes(text[])"


def upgrade() -> None:
    op.execute("""
CREATE FUNCTION eqreg_taken_codes(p_codes text[]) RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  SELECT coalesce(array_agg(code ORDER BY code), '{}') FROM projects WHERE code = ANY (p_codes)
$fn$""")
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
