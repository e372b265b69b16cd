"""scope from a secret: row-level security derives the request's scope from its session or token

Until now the policies trusted ``eqreg.role`` / ``eqreg.towns``, settings the web role sets itself
with ``set_config`` — so could an injected ``set_config('eqreg.role', 'admin', true)``. Now the app
sets only ``eqreg.session``: the raw secret of the request (the browser session's id or the API
token). The definer function ``eqreg_request_scope()`` looks up the secret's SHA-256 in
``user_sessions`` / ``api_tokens`` (live, unrevoked, the account active) and returns the account's
role and, for a town user, its towns. An unknown, forged, expired or revoked secret is the
anonymous scope: nothing visible. Guessing a secret is as hard as guessing a session id or token;
the web role may read their hashes, which give no secret back.

The policies call it as ``(SELECT eqreg_visible_towns())`` / ``(SELECT eqreg_request_role())``
— an initplan, evaluated once per statement (and per policy), not per row — and test a project
with ``id IN (SELECT eqreg_visible_projects())``, a hashed subplan built once per statement (only
for a limited scope: for the others the first, constant arm is already true).

The CLI and maintenance run as the owner, whose permissive policies (0002) are untouched: the
``system`` value of ``eqreg.role`` is gone and the web role has no way to claim it.

Sign-in no longer reads a hash: ``eqreg_password_settings(username)`` returns only the hash's
parameters and salt (the ``$argon2id$v=…$m=…,t=…,p=…$salt$`` prefix and the hash's length), the app
derives the candidate hash from the typed password, and ``eqreg_verify_password(username,
candidate)`` answers true or false. ``eqreg_password_hash`` is dropped.

Role names here are the values of ``registry.roles.Role`` (``tests/test_roles.py`` checks them).

Revision ID: 0011_scope
Revises: 0010_security
"""
from alembic import op

revision = '0011_scope'
down_revision = '0010_security'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

FUNCTIONS = r"""
-- PL/pgSQL rather than SQL: its statements' plans are kept for the connection's life, so an
-- initplan that calls it costs a few index probes, not a planning of the body each time.
CREATE FUNCTION eqreg_request_scope(OUT role text, OUT towns text[])
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  hashed text := encode(sha256(convert_to(current_setting('eqreg.session', true), 'UTF8')), 'hex');
  account_id integer;
BEGIN
  SELECT u.id, u.role INTO account_id, role FROM users u
  WHERE u.active AND u.id = coalesce(
    (SELECT s.user_id FROM user_sessions s
     WHERE s.secret_hash = hashed AND s.revoked_at IS NULL AND s.expires_at > now()),
    (SELECT t.user_id FROM api_tokens t
     WHERE t.token_hash = hashed AND t.revoked_at IS NULL AND t.expires_at > now()));
  IF role IN ('admin', 'bureau', 'planner') THEN
    towns := NULL;
  ELSIF role = 'town' THEN
    SELECT coalesce(array_agg(ut.town_code::text ORDER BY ut.town_code), '{}') INTO towns
    FROM user_towns ut WHERE ut.user_id = account_id;
  ELSE  -- no secret, an unknown, expired or revoked one, a disabled account: nothing
    role := 'anonymous';
    towns := '{}';
  END IF;
END
$fn$;

-- NULL: every row; otherwise the towns whose projects are visible (empty: nothing). Both are
-- inlined where they are called (a bare expression, no FROM).
CREATE FUNCTION eqreg_visible_towns() RETURNS text[] LANGUAGE sql STABLE AS $fn$
  SELECT (public.eqreg_request_scope()).towns
$fn$;

CREATE FUNCTION eqreg_request_role() RETURNS text LANGUAGE sql STABLE AS $fn$
  SELECT (public.eqreg_request_scope()).role
$fn$;

-- The projects with a share in the request's towns, read with the owner's rights (a policy on
-- project_towns cannot query project_towns through its own policy). The policies use it as
-- ``id IN (SELECT eqreg_visible_projects())``: a hashed subplan, built once per statement and only
-- for a limited scope. It takes no arguments, so it tells nothing outside the request's scope.
CREATE FUNCTION eqreg_visible_projects() RETURNS SETOF bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp ROWS 1000 AS $fn$
  SELECT DISTINCT project_id FROM project_towns WHERE town_code = ANY (eqreg_visible_towns())
$fn$;

CREATE FUNCTION eqreg_password_settings(p_username text, OUT settings text, OUT hash_chars integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  SELECT substring(password_hash FROM '^(.*\$)[^$]+$'), length(substring(password_hash FROM '[^$]+$'))
  FROM users WHERE username = p_username
$fn$;

-- Every wrong candidate is written down (password_checks, which the web role cannot touch), and
-- after 100 of them for one username within 15 minutes every candidate is refused unchecked: the
-- sign-in limits (5 / 20 per 15 minutes) are the app's, this is the database's own backstop, so
-- an injected expression cannot test guesses faster than that.
CREATE TABLE password_checks (
  username text NOT NULL,
  at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ix_password_checks_username_at ON password_checks (username, at);
CREATE INDEX ix_password_checks_at ON password_checks (at);

-- Digests compared, not the strings: the time taken says nothing about the stored hash's bytes.
CREATE FUNCTION eqreg_verify_password(p_username text, p_candidate text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  ok boolean;
BEGIN
  IF (SELECT count(*) FROM password_checks
      WHERE username = p_username AND at > now() - interval '15 minutes') >= 100 THEN
    RETURN false;
  END IF;
  SELECT coalesce((SELECT sha256(convert_to(password_hash, 'UTF8')) = sha256(convert_to(p_candidate, 'UTF8'))
                   FROM users WHERE username = p_username AND password_hash IS NOT NULL), false) INTO ok;
  IF NOT ok THEN
    DELETE FROM password_checks WHERE at < now() - interval '1 day';
    INSERT INTO password_checks (username) VALUES (p_username);
  END IF;
  RETURN ok;
END
$fn$;
"""
NEW_FUNCTIONS = ("eqreg_request_scope()", "eqreg_visible_towns()", "eqreg_request_role()",
                 "eqreg_visible_projects()", "eqreg_password_settings(text)",
                 "eqreg_verify_password(text, text)")

TOWNS = "(SELECT eqreg_visible_towns())"
ALL_ROWS = f"{TOWNS} IS NULL"
VISIBLE_PROJECTS = "(SELECT eqreg_visible_projects())"
EDITOR = "(SELECT eqreg_request_role()) IN ('admin', 'bureau')"

# (table, policy) → (USING, WITH CHECK); None keeps the clause absent.
POLICIES = {
    ("projects", "projects_app_scope"): (f"{ALL_ROWS} OR id IN {VISIBLE_PROJECTS}",) * 2,
    ("project_towns", "project_towns_app_scope"): (f"{ALL_ROWS} OR project_id IN {VISIBLE_PROJECTS}",) * 2,
    ("import_batches", "import_batches_app_scope"): (
        f"{ALL_ROWS} OR EXISTS (SELECT 1 FROM projects p WHERE p.import_batch_id = import_batches.id)",) * 2,
    ("audit_log", "audit_log_app_read"): (
        f"{ALL_ROWS} OR (entity = 'project' AND entity_id ~ '^[0-9]{{1,18}}$' "
        f"AND entity_id::bigint IN {VISIBLE_PROJECTS})", None),
    ("progress_reports", "progress_reports_app_scope"): (f"{ALL_ROWS} OR project_id IN {VISIBLE_PROJECTS}",) * 2,
    ("town_notices", "town_notices_app_read"): (f"{ALL_ROWS} OR town_code = ANY ({TOWNS}::text[])", None),
    ("target_jurisdictions", "target_jurisdictions_app_write"): (EDITOR, EDITOR),
    ("targets", "targets_app_write"): (EDITOR, EDITOR),
    ("target_entries", "target_entries_app_append"): (None, EDITOR),
}

# The definitions this migration replaces (0002, 0003, 0007, 0009, 0010), for the downgrade.
OLD_FUNCTIONS = r"""
CREATE FUNCTION eqreg_sees_all() RETURNS boolean LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(current_setting('eqreg.role', true), '') IN ('admin', 'bureau', 'planner', 'system')
$fn$;
CREATE FUNCTION eqreg_scope_towns() RETURNS text[] LANGUAGE sql STABLE AS $fn$
  SELECT coalesce(string_to_array(nullif(current_setting('eqreg.towns', true), ''), ','), '{}')
$fn$;
CREATE FUNCTION eqreg_project_in_scope(pid bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  SELECT eqreg_sees_all() OR EXISTS (
    SELECT 1 FROM project_towns WHERE project_id = pid AND town_code = ANY (eqreg_scope_towns()))
$fn$;
CREATE FUNCTION eqreg_password_hash(p_username text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
  SELECT password_hash FROM users WHERE username = p_username
$fn$;
"""
OLD_EDITOR = "coalesce(current_setting('eqreg.role', true), '') IN ('admin', 'bureau', 'system')"
OLD_POLICIES = {
    ("projects", "projects_app_scope"): (
        "eqreg_sees_all() OR EXISTS (SELECT 1 FROM project_towns pt "
        "WHERE pt.project_id = projects.id AND pt.town_code = ANY (eqreg_scope_towns()))",) * 2,
    ("project_towns", "project_towns_app_scope"): (
        "eqreg_sees_all() OR town_code = ANY (eqreg_scope_towns()) OR eqreg_project_in_scope(project_id)",) * 2,
    ("import_batches", "import_batches_app_scope"): (
        "eqreg_sees_all() OR EXISTS (SELECT 1 FROM projects p WHERE p.import_batch_id = import_batches.id)",) * 2,
    ("audit_log", "audit_log_app_read"): (
        "eqreg_sees_all() OR (entity = 'project' AND entity_id ~ '^[0-9]{1,18}$' "
        "AND eqreg_project_in_scope(entity_id::bigint))", None),
    ("progress_reports", "progress_reports_app_scope"): ("eqreg_project_in_scope(project_id)",) * 2,
    ("town_notices", "town_notices_app_read"): ("eqreg_sees_all() OR town_code = ANY (eqreg_scope_towns())", None),
    ("target_jurisdictions", "target_jurisdictions_app_write"): (OLD_EDITOR, OLD_EDITOR),
    ("targets", "targets_app_write"): (OLD_EDITOR, OLD_EDITOR),
    ("target_entries", "target_entries_app_append"): (None, OLD_EDITOR),
}


def _alter_policies(policies: dict) -> None:
    for (table, policy), (using, check) in policies.items():
        clauses = (f" USING ({using})" if using else "") + (f" WITH CHECK ({check})" if check else "")
        op.execute(f"ALTER POLICY {policy} ON {table}{clauses}")


def upgrade() -> None:
    op.execute(FUNCTIONS)
    op.execute(f"REVOKE ALL ON password_checks FROM {APP_ROLE}")  # only the definer function writes it
    for signature in NEW_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    _alter_policies(POLICIES)
    # Nothing may read the settings the web role can set itself any more.
    for signature in ("eqreg_project_in_scope(bigint)", "eqreg_sees_all()", "eqreg_scope_towns()",
                      "eqreg_password_hash(text)"):
        op.execute(f"DROP FUNCTION {signature}")


def downgrade() -> None:
    op.execute(OLD_FUNCTIONS)
    op.execute("REVOKE ALL ON FUNCTION eqreg_password_hash(text) FROM PUBLIC")
    for signature in ("eqreg_sees_all()", "eqreg_scope_towns()", "eqreg_project_in_scope(bigint)",
                      "eqreg_password_hash(text)"):
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    _alter_policies(OLD_POLICIES)
    op.execute("GRANT EXECUTE ON FUNCTION eqreg_project_in_scope(bigint) TO PUBLIC")
    for signature in ("eqreg_verify_password(text, text)", "eqreg_password_settings(text)",
                      "eqreg_visible_projects()", "eqreg_request_role()", "eqreg_visible_towns()",
                      "eqreg_request_scope()"):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP TABLE password_checks")
