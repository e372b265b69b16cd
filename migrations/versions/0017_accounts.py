"""accounts: the web role writes no account table itself; targets' writes limited by district; no viewer deletes

Until now ``eqreg_app`` held INSERT/UPDATE/DELETE on ``users``, ``user_towns``,
``user_jurisdictions``, ``api_tokens`` and ``user_sessions``: a stacked statement could have minted
a session or token for another account or raised its own role. Now those rights are revoked (the
web role keeps SELECT; ``users`` still through column grants without ``password_hash``) and every
account write goes through a definer function that checks its own authority:

* ``eqreg_sign_in(username, candidate, proof, new_hash)``: checks the password
  (``eqreg_verify_password``, with its per-username cap), notes ``last_login_at``, stores a rehash,
  and keeps the SHA-256 of ``proof`` — a random secret the app made — for one minute in
  ``sign_in_proofs`` (the web role cannot touch it). Only that proof creates a signed-in session
  (``eqreg_session_save``) or an API token (``eqreg_token_issue``), for the user whose password
  was checked, once.
* ``eqreg_session_save`` (anonymous sessions, and the data of a live session whose raw secret is
  given), ``eqreg_session_end`` (the session whose secret is given), ``eqreg_token_revoke`` (the
  token whose secret is given).
* Admin writes (``eqreg_user_create``, ``…_set_active``, ``…_set_password``, ``…_set_towns``,
  ``…_set_jurisdictions``, ``…_revoke_sessions``) only for a request whose secret is an admin's
  (``eqreg_request_scope()``), or for the schema owner outside the web role — the CLI
  (``eqreg_caller_is_owner()``: no ``SET ROLE`` in force and a login role that is a member of the
  tables' owner; the web role can neither drop its ``SET ROLE`` to the owner nor log in as it in
  production).

Also (issue 12): the write policies of the plan targets test the caller's districts (a district
bureau writes only its districts' jurisdictions, their zones, their targets and entries; admin and
bureaus without districts every one, as for projects in 0015), and a viewer's DELETE on projects,
project towns and import batches is refused by restrictive policies (its INSERT/UPDATE already
were, by the WITH CHECK of 0015).

Revision ID: 0017_accounts
Revises: 0016_map1m
"""
from alembic import op

revision = '0017_accounts'
down_revision = '0016_map1m'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"
ACCOUNT_TABLES = ("users", "user_towns", "user_jurisdictions", "api_tokens", "user_sessions")

FUNCTIONS = r"""
CREATE TABLE sign_in_proofs (
  proof_hash varchar(64) NOT NULL CONSTRAINT pk_sign_in_proofs PRIMARY KEY,
  user_id integer NOT NULL CONSTRAINT fk_sign_in_proofs_user_id_users REFERENCES users (id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);

-- The schema owner outside the web role (the CLI, migrations, jobs): no SET ROLE in force, and a
-- login role that is the tables' owner or a member of it. The web role always runs under SET ROLE
-- (or logs in as a role that is no member of the owner), so it can never pass this.
CREATE FUNCTION eqreg_caller_is_owner() RETURNS boolean LANGUAGE sql STABLE
SET search_path = public, pg_temp AS $fn$
  SELECT current_setting('role') = 'none'
     AND pg_has_role(session_user, (SELECT c.relowner FROM pg_class c WHERE c.oid = 'public.users'::regclass), 'MEMBER')
$fn$;

-- Account administration: an admin's request (derived from its secret, never from a setting the
-- web role may set), or the owner.
CREATE FUNCTION eqreg_require_admin() RETURNS void LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp AS $fn$
BEGIN
  IF NOT (eqreg_caller_is_owner() OR (SELECT s.role FROM eqreg_request_scope() s) = 'admin') THEN
    RAISE EXCEPTION '只有管理员可以修改账号。' USING ERRCODE = 'insufficient_privilege';
  END IF;
END
$fn$;

-- The user a sign-in proof was made for, the proof used up (NULL: unknown, expired or used).
CREATE FUNCTION eqreg_take_proof(p_proof text) RETURNS integer LANGUAGE sql VOLATILE
SET search_path = public, pg_temp AS $fn$
  DELETE FROM sign_in_proofs WHERE proof_hash = encode(sha256(convert_to(p_proof, 'UTF8')), 'hex')
    AND expires_at > now() RETURNING user_id
$fn$;

-- The user a new session or token is for: a proof's, or (the owner only) the one named.
CREATE FUNCTION eqreg_credential_user(p_proof text, p_user_id integer) RETURNS integer LANGUAGE plpgsql VOLATILE
SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer;
BEGIN
  IF p_proof IS NOT NULL THEN
    account_id := eqreg_take_proof(p_proof);
  ELSIF eqreg_caller_is_owner() THEN
    account_id := p_user_id;
  END IF;
  IF account_id IS NULL THEN
    RAISE EXCEPTION '登录凭证无效或已过期。' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN account_id;
END
$fn$;

CREATE FUNCTION eqreg_sign_in(p_username text, p_candidate text, p_proof text, p_new_hash text)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer;
BEGIN
  IF p_proof IS NOT NULL AND length(p_proof) < 32 THEN
    RAISE EXCEPTION 'proof too short' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT eqreg_verify_password(p_username, p_candidate) THEN
    RETURN false;
  END IF;
  UPDATE users SET last_login_at = now(),
         password_hash = CASE WHEN p_new_hash LIKE '$argon2id$%' THEN p_new_hash ELSE password_hash END
  WHERE username = p_username AND active RETURNING id INTO account_id;
  IF account_id IS NULL THEN  -- disabled
    RETURN false;
  END IF;
  IF p_proof IS NOT NULL THEN
    DELETE FROM sign_in_proofs WHERE expires_at <= now();
    INSERT INTO sign_in_proofs (proof_hash, user_id, expires_at)
    VALUES (encode(sha256(convert_to(p_proof, 'UTF8')), 'hex'), account_id, now() + interval '1 minute');
  END IF;
  RETURN true;
END
$fn$;

-- A new session (anonymous; signed in with a proof) or the new data of a live one. The user and
-- expiry of a session are fixed when it is made.
CREATE FUNCTION eqreg_session_save(p_secret text, p_data jsonb, p_ip text, p_user_agent text,
                                   p_lifetime interval, p_proof text, p_user_id integer)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  hashed text := encode(sha256(convert_to(p_secret, 'UTF8')), 'hex');
  account_id integer;
BEGIN
  IF p_proof IS NOT NULL OR (p_user_id IS NOT NULL
                             AND NOT EXISTS (SELECT 1 FROM user_sessions s WHERE s.secret_hash = hashed)) THEN
    account_id := eqreg_credential_user(p_proof, p_user_id);
  END IF;
  INSERT INTO user_sessions (secret_hash, user_id, data, expires_at, ip, user_agent)
  VALUES (hashed, account_id, p_data, now() + p_lifetime, p_ip, nullif(left(p_user_agent, 300), ''))
  ON CONFLICT (secret_hash) DO UPDATE SET data = EXCLUDED.data WHERE user_sessions.revoked_at IS NULL;
  -- Expired sessions are of no use to anyone; anonymous ones come with every new visitor.
  DELETE FROM user_sessions WHERE expires_at < now() - interval '1 day';
END
$fn$;

CREATE FUNCTION eqreg_session_end(p_secret text) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  UPDATE user_sessions SET revoked_at = now()
  WHERE secret_hash = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex') AND revoked_at IS NULL
$fn$;

CREATE FUNCTION eqreg_token_issue(p_secret text, p_lifetime interval, p_proof text, p_user_id integer)
RETURNS timestamptz LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  expiry timestamptz;
BEGIN
  INSERT INTO api_tokens (user_id, token_hash, expires_at)
  VALUES (eqreg_credential_user(p_proof, p_user_id), encode(sha256(convert_to(p_secret, 'UTF8')), 'hex'),
          now() + p_lifetime)
  RETURNING expires_at INTO expiry;
  RETURN expiry;
END
$fn$;

CREATE FUNCTION eqreg_token_revoke(p_secret text) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  WITH ended AS (
    UPDATE api_tokens SET revoked_at = now()
    WHERE token_hash = encode(sha256(convert_to(p_secret, 'UTF8')), 'hex') AND revoked_at IS NULL
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM ended)
$fn$;

-- Admin writes. Each checks the caller first; the app validates the values and writes the audit.
CREATE FUNCTION eqreg_revoke_credentials(p_user_id integer) RETURNS void LANGUAGE sql VOLATILE
SET search_path = public, pg_temp AS $fn$
  UPDATE api_tokens SET revoked_at = now() WHERE user_id = p_user_id AND revoked_at IS NULL;
  UPDATE user_sessions SET revoked_at = now() WHERE user_id = p_user_id AND revoked_at IS NULL;
$fn$;

-- The account an admin change is for (raises unless the caller may administer accounts).
CREATE FUNCTION eqreg_admin_target(p_username text) RETURNS integer LANGUAGE plpgsql STABLE
SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer;
BEGIN
  PERFORM eqreg_require_admin();
  SELECT u.id INTO account_id FROM users u WHERE u.username = p_username;
  IF account_id IS NULL THEN
    RAISE EXCEPTION 'no user %', p_username USING ERRCODE = 'no_data_found';
  END IF;
  RETURN account_id;
END
$fn$;

CREATE FUNCTION eqreg_user_create(p_username text, p_role text, p_display_name text, p_password_hash text,
                                  p_towns text[], p_levels text[], p_codes text[])
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer;
BEGIN
  PERFORM eqreg_require_admin();
  INSERT INTO users (username, role, display_name, password_hash)
  VALUES (p_username, p_role, p_display_name, p_password_hash) RETURNING id INTO account_id;
  PERFORM eqreg_user_set_towns(p_username, p_towns);
  PERFORM eqreg_user_set_jurisdictions(p_username, p_levels, p_codes);
  RETURN account_id;
END
$fn$;

CREATE FUNCTION eqreg_user_set_active(p_username text, p_active boolean) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer := eqreg_admin_target(p_username);
BEGIN
  UPDATE users SET active = p_active WHERE id = account_id;
  IF NOT p_active THEN
    PERFORM eqreg_revoke_credentials(account_id);
  END IF;
END
$fn$;

-- Each admin change names its account in DECLARE: the check runs first, whatever follows.
CREATE FUNCTION eqreg_user_set_password(p_username text, p_password_hash text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer := eqreg_admin_target(p_username);
BEGIN
  UPDATE users SET password_hash = p_password_hash WHERE id = account_id;
  PERFORM eqreg_revoke_credentials(account_id);
END
$fn$;

CREATE FUNCTION eqreg_user_set_towns(p_username text, p_towns text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer := eqreg_admin_target(p_username);
BEGIN
  DELETE FROM user_towns WHERE user_id = account_id;
  INSERT INTO user_towns (user_id, town_code) SELECT account_id, t FROM unnest(p_towns) t;
END
$fn$;

CREATE FUNCTION eqreg_user_set_jurisdictions(p_username text, p_levels text[], p_codes text[]) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer := eqreg_admin_target(p_username);
BEGIN
  DELETE FROM user_jurisdictions WHERE user_id = account_id;
  INSERT INTO user_jurisdictions (user_id, level, code)
  SELECT account_id, l, c FROM unnest(p_levels, p_codes) AS j(l, c);
END
$fn$;

CREATE FUNCTION eqreg_user_revoke_sessions(p_username text, p_session_id bigint) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  account_id integer := eqreg_admin_target(p_username);
  ended integer;
BEGIN
  UPDATE user_sessions SET revoked_at = now()
  WHERE user_id = account_id AND revoked_at IS NULL AND (p_session_id IS NULL OR id = p_session_id);
  GET DIAGNOSTICS ended = ROW_COUNT;
  RETURN ended;
END
$fn$;
"""

DEFINERS = ("eqreg_sign_in(text, text, text, text)",
            "eqreg_session_save(text, jsonb, text, text, interval, text, integer)",
            "eqreg_session_end(text)", "eqreg_token_issue(text, interval, text, integer)",
            "eqreg_token_revoke(text)",
            "eqreg_user_create(text, text, text, text, text[], text[], text[])",
            "eqreg_user_set_active(text, boolean)", "eqreg_user_set_password(text, text)",
            "eqreg_user_set_towns(text, text[])", "eqreg_user_set_jurisdictions(text, text[], text[])",
            "eqreg_user_revoke_sessions(text, bigint)")
# Helpers the definer functions call: harmless when called directly (they grant nothing), but no
# business of the web role; ``eqreg db check`` grants every ``eqreg_*`` function, so they stay callable.
HELPERS = ("eqreg_caller_is_owner()", "eqreg_require_admin()", "eqreg_take_proof(text)",
           "eqreg_credential_user(text, integer)", "eqreg_revoke_credentials(integer)",
           "eqreg_admin_target(text)")

EDITOR = "(SELECT eqreg_request_role()) IN ('admin', 'bureau')"
DISTRICTS = "(SELECT eqreg_visible_districts())"
# A jurisdiction of the caller's districts: the district itself or one of its zones. No district
# limit (admin, a bureau without districts: DESIGN §9) writes every one.
OWN_JURISDICTION = (f"{DISTRICTS} IS NULL OR code = ANY ({DISTRICTS}::text[]) "
                    f"OR parent_code = ANY ({DISTRICTS}::text[])")
OWN_TARGET_JURISDICTIONS = (f"SELECT j.code FROM target_jurisdictions j WHERE j.code = ANY ({DISTRICTS}::text[]) "
                            f"OR j.parent_code = ANY ({DISTRICTS}::text[])")
OWN_TARGET = f"{DISTRICTS} IS NULL OR jurisdiction_code IN ({OWN_TARGET_JURISDICTIONS})"
OWN_ENTRY = (f"{DISTRICTS} IS NULL OR target_id IN (SELECT t.id FROM targets t "
             f"WHERE t.jurisdiction_code IN ({OWN_TARGET_JURISDICTIONS}))")

# (table, policy) → (USING, WITH CHECK); None keeps the clause absent.
POLICIES = {
    ("target_jurisdictions", "target_jurisdictions_app_write"): (f"{EDITOR} AND ({OWN_JURISDICTION})",) * 2,
    ("targets", "targets_app_write"): (f"{EDITOR} AND ({OWN_TARGET})",) * 2,
    ("target_entries", "target_entries_app_append"): (None, f"{EDITOR} AND ({OWN_ENTRY})"),
}
OLD_POLICIES = {
    ("target_jurisdictions", "target_jurisdictions_app_write"): (EDITOR, EDITOR),
    ("targets", "targets_app_write"): (EDITOR, EDITOR),
    ("target_entries", "target_entries_app_append"): (None, EDITOR),
}
# A viewer deletes nothing (its inserts and updates already fail the WITH CHECK of 0015).
NO_VIEWER_DELETE = ("projects", "project_towns", "import_batches")
WRITER = "(SELECT eqreg_request_role()) <> 'viewer'"


def _alter_policies(policies: dict) -> None:
    for (table, policy), (using, check) in policies.items():
        clauses = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
        op.execute(f"ALTER POLICY {policy} ON {table}{clauses}")


def upgrade() -> None:
    op.execute(FUNCTIONS)
    op.execute(f"REVOKE ALL ON sign_in_proofs FROM {APP_ROLE}")  # default privileges granted it
    for signature in DEFINERS + HELPERS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute(f"REVOKE INSERT, UPDATE, DELETE ON {', '.join(ACCOUNT_TABLES)} FROM {APP_ROLE}")
    _alter_policies(POLICIES)
    for table in NO_VIEWER_DELETE:
        op.execute(f"CREATE POLICY {table}_app_no_viewer_delete ON {table} AS RESTRICTIVE FOR DELETE "
                   f"TO {APP_ROLE} USING ({WRITER})")


def downgrade() -> None:
    for table in NO_VIEWER_DELETE:
        op.execute(f"DROP POLICY {table}_app_no_viewer_delete ON {table}")
    _alter_policies(OLD_POLICIES)
    op.execute(f"GRANT INSERT, UPDATE ON users TO {APP_ROLE}")
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON user_towns, user_jurisdictions, api_tokens, user_sessions "
               f"TO {APP_ROLE}")
    for signature in DEFINERS + HELPERS:
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP TABLE sign_in_proofs")
