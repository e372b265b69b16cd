"""selfcaps: no weak password hash and no long-lived credential, even for one's own account

Two limits that docs/security.md listed as open (each needs a SQL injection first):

* ``eqreg_sign_in(…, new_hash)`` stores the rehash the app gives it, so an injected call by someone
  who knows an account's password could store a cheap hash of it (``m=8,t=1``) that is quick to
  crack offline once the table leaks.
* ``eqreg_token_issue`` and ``eqreg_session_save`` take the lifetime from the caller, so the same
  caller could mint a token or session of its own that lives for years.

Both become rules of the tables, so every path — the definer functions, the CLI as the owner — obeys
them: a password hash is argon2id v19 with at least the parameters of RFC 9106's low-memory choice
(``m=65536,t=3``, argon2-cffi's defaults, which ``registry.passwords`` uses), a salt of at least
8 bytes and a digest of at least 16 — and at most ``m=262144,t=10,p=16`` and 48/96 bytes, since
every sign-in attempt, wrong ones included, derives a hash with the stored parameters (an attack
pass stored ``t=9999``: each guess then tied up a worker for minutes); an API token lives at most 30 days and a session at most
7 days from when it was made (``registry.accounts.TOKEN_LIFETIME``,
``registry.user_sessions.SIGNED_IN_LIFETIME``; ``tests/test_security_accounts.py`` ties them).
Only new or changed values are checked: a stored weaker hash still signs in (a trigger on the
change of ``password_hash``, not a CHECK, which would refuse the sign-in's own update of the row);
older credentials (``NOT VALID`` caps) simply expire.

Revision ID: 0021_selfcaps
Revises: 0020_rlsprov
"""
from alembic import op

revision = '0021_selfcaps'
down_revision = '0020_rlsprov'
branch_labels = None
depends_on = None

# A new or changed hash must be strong; an old one is left as it is (its account may still sign
# in, and the app's rehash at that sign-in replaces it), so this is a trigger on the change, not
# a CHECK (which would refuse any later update of the row, the sign-in's own included).
STRONG_HASH = r"""
CREATE FUNCTION eqreg_require_strong_hash() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.password_hash IS NOT DISTINCT FROM OLD.password_hash THEN
    RETURN NEW;  -- kept as it was (every sign-in names the column)
  END IF;
  IF NEW.password_hash IS NOT NULL AND NOT (
      NEW.password_hash ~ '^\$argon2id\$v=19\$m=[0-9]{1,9},t=[0-9]{1,4},p=[0-9]{1,3}\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{22,128}$'
      AND substring(NEW.password_hash FROM 'm=([0-9]+)')::int BETWEEN 65536 AND 262144
      AND substring(NEW.password_hash FROM 't=([0-9]+)')::int BETWEEN 3 AND 10
      AND substring(NEW.password_hash FROM 'p=([0-9]+)')::int BETWEEN 1 AND 16) THEN
    RAISE EXCEPTION '密码哈希参数不在允许范围（argon2id，m 65536–262144，t 3–10，p 1–16）'
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER users_password_hash_strong
  BEFORE INSERT OR UPDATE OF password_hash ON users FOR EACH ROW EXECUTE FUNCTION eqreg_require_strong_hash();
"""

LIFETIME_CAPS = {  # table → its credentials' longest life
    "api_tokens": "30 days",
    "user_sessions": "7 days",
}


def upgrade() -> None:
    op.execute(STRONG_HASH)
    for table, cap in LIFETIME_CAPS.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_lifetime_cap "
                   f"CHECK (expires_at <= created_at + interval '{cap}') NOT VALID")


def downgrade() -> None:
    for table in LIFETIME_CAPS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_lifetime_cap")
    op.execute("DROP TRIGGER users_password_hash_strong ON users")
    op.execute("DROP FUNCTION eqreg_require_strong_hash()")
