"""selfcaps: no weak password hash and no long-lived credential, even for one's own account

Two limits that docs/security.md listed as open (each needs a SQL injection first):

* ``eqreg_sign_in(…, new_hash)`` stores the rehash the app gives it, so an injected call by someone
  who knows an account's password could store a cheap hash of it (``m=8,t=1``) that is quick to
  crack offline once the table leaks.
* ``eqreg_token_issue`` and ``eqreg_session_save`` take the lifetime from the caller, so the same
  caller could mint a token or session of its own that lives for years.

Both become table constraints, so every path — the definer functions, the CLI as the owner — obeys
them: a password hash is argon2id v19 with at least the parameters of RFC 9106's low-memory choice
(``m=65536,t=3``, argon2-cffi's defaults, which ``registry.passwords`` uses), a salt of at least
8 bytes and a digest of at least 16; an API token lives at most 30 days and a session at most
7 days from when it was made (``registry.accounts.TOKEN_LIFETIME``,
``registry.user_sessions.SIGNED_IN_LIFETIME``; ``tests/test_security_accounts.py`` ties them).
Existing rows are not re-validated (``NOT VALID``): a weaker hash is replaced by the rehash at its
account's next sign-in, which the constraint then checks; older credentials simply expire.

Revision ID: 0021_selfcaps
Revises: 0020_rlsprov
"""
from alembic import op

revision = '0021_selfcaps'
down_revision = '0020_rlsprov'
branch_labels = None
depends_on = None

STRONG_HASH = r"""password_hash IS NULL OR (
    password_hash ~ '^\$argon2id\$v=19\$m=[0-9]{1,9},t=[0-9]{1,4},p=[0-9]{1,3}\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{22,}$'
    AND substring(password_hash FROM 'm=([0-9]+)')::int >= 65536
    AND substring(password_hash FROM 't=([0-9]+)')::int >= 3)"""

CONSTRAINTS = {  # (table, name) → condition
    ("users", "users_password_hash_strong"): STRONG_HASH,
    ("api_tokens", "api_tokens_lifetime_cap"): "expires_at <= created_at + interval '30 days'",
    ("user_sessions", "user_sessions_lifetime_cap"): "expires_at <= created_at + interval '7 days'",
}


def upgrade() -> None:
    for (table, name), condition in CONSTRAINTS.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")


def downgrade() -> None:
    for table, name in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
