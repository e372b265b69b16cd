"""``eqreg db check``: what the web app needs from the database, verified and repaired.

A restore onto a fresh server, or a dump restored by hand without the roles, can leave the schema
at the right migration but the app unable to work: the role ``eqreg_app`` missing, its grants
gone, row-level security off or its policies lost. ``check`` lists each such problem and, with
``repair``, fixes what can be fixed without a backup: the role, the grants in ``APP_PRIVILEGES``,
sequences and ``eqreg_*`` functions, RLS switched on and forced, the owner's permissive policy
(re-created for the current owner) and the owner's default privileges. A lost app policy cannot be
rebuilt here (its rule lives in the migration that made it): restore again with ``eqreg db restore``.

``APP_PRIVILEGES``, ``APP_POLICIES`` and ``APP_DEFINER_FUNCTIONS`` describe the state the migrations
leave at head; the test ``test_db_check.py`` fails when a migration changes it without updating
them.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from registry import schema

APP_ROLE = "eqreg_app"

# Table privileges of eqreg_app at head (every other public table: none). The account tables are
# read-only for it: every account write is a definer function below (migration 0017).
_ALL = ("SELECT", "INSERT", "UPDATE", "DELETE")
# Boundaries and the vocabulary are loaded by the CLI as the owner: read-only for it too (0019).
APP_PRIVILEGES: dict[str, tuple[str, ...]] = {
    "alembic_version": ("SELECT",),
    "api_tokens": ("SELECT",),
    "audit_log": ("SELECT", "INSERT"),  # append-only
    "categories": ("SELECT",),
    "districts": ("SELECT",),
    "domains": ("SELECT",),
    "funding_sources": ("SELECT",),
    "import_batches": _ALL,
    "login_attempts": _ALL,
    "map_cell_state": ("SELECT",),  # counted by eqreg_refresh_map_cells (0016)
    "map_cells": ("SELECT",),
    "progress_reports": ("SELECT", "INSERT"),
    "project_towns": _ALL,
    "projects": _ALL,
    "registry_change_requests": ("SELECT",),
    "registry_changes": ("SELECT",),
    "spatial_ref_sys": ("SELECT",),
    "target_entries": ("SELECT", "INSERT"),  # hand-entered values are appended, never changed
    "target_jurisdictions": ("SELECT", "INSERT", "UPDATE"),
    "targets": ("SELECT", "INSERT", "UPDATE"),
    "town_figure_cache": ("SELECT",),  # written by eqreg_store_town_figures (0022)
    "town_notices": ("SELECT",),  # written by the CLI's boundary load only
    "town_parts": ("SELECT",),
    "towns": ("SELECT",),
    "user_towns": ("SELECT",),
    "user_jurisdictions": ("SELECT",),
    # reads go through column grants without password_hash (0010), checked below; no writes (0017)
    "users": (),
    "user_sessions": ("SELECT",),
    "refusal_counts": _ALL,
    "sign_in_proofs": (),  # only eqreg_sign_in and the functions that take a proof touch it
}

# Column privileges beyond the table ones: a report is only ever marked superseded (0008).
APP_COLUMN_PRIVILEGES: dict[tuple[str, str], tuple[str, ...]] = {
    ("progress_reports", "UPDATE"): ("superseded_at", "superseded_by"),
}

# Tables under row-level security and the policies that scope eqreg_app on them.
APP_POLICIES: dict[str, tuple[str, ...]] = {
    "audit_log": ("audit_log_app_append", "audit_log_app_read"),
    "import_batches": ("import_batches_app_no_viewer_delete", "import_batches_app_scope"),
    "map_cell_state": ("map_cell_state_app_read",),
    "map_cells": ("map_cells_app_read",),
    "progress_reports": ("progress_reports_app_scope",),
    "project_towns": ("project_towns_app_no_viewer_delete", "project_towns_app_scope"),
    "projects": ("projects_app_no_viewer_delete", "projects_app_scope"),
    # *_app_scope (read) and *_app_levels_* (city and province rows: admin only) are restrictive (0018)
    "target_entries": ("target_entries_app_append", "target_entries_app_read", "target_entries_app_scope",
                       "target_entries_app_levels_insert"),
    "target_jurisdictions": ("target_jurisdictions_app_read", "target_jurisdictions_app_write",
                             "target_jurisdictions_app_scope", "target_jurisdictions_app_levels_insert",
                             "target_jurisdictions_app_levels_update"),
    "targets": ("targets_app_read", "targets_app_write", "targets_app_scope", "targets_app_levels_insert",
                "targets_app_levels_update"),
    "town_figure_cache": ("town_figure_cache_app_read",),
    "town_notices": ("town_notices_app_read",),
}


# Definer functions eqreg_app may call (migration 0011, and the change stamp's triggers of 0005):
# run with the owner's rights, so each pins its search_path; the scope functions derive the
# request's scope from its secret, the password functions compare a hash without returning it,
# and the account functions (0017) are the only way the web role writes an account table, each
# checking its own authority. Only eqreg_app may call those (no EXECUTE for PUBLIC).
APP_DEFINER_FUNCTIONS: dict[str, bool] = {  # signature → PUBLIC may execute it too
    "eqreg_bump_change_stamp()": True,
    "eqreg_check_project_refs()": True,  # the set-based reference checks (0013), trigger functions
    "eqreg_check_project_town_refs()": True,
    "eqreg_district_projects()": False,  # the scope's districts' projects, for the shares' and reports' policies (0020)
    "eqreg_note_change()": True,
    "eqreg_note_map_cell_change()": True,  # trigger function: the projects the grid counts again (0024)
    "eqreg_password_settings(text)": False,
    "eqreg_guard_project_shares()": True,  # trigger function: a hard delete's or id change's lock and shares (0025)
    "eqreg_refresh_map_cells(integer,integer)": False,  # the map's cluster grid (0016)
    "eqreg_refuse_referenced_change()": True,
    "eqreg_request_scope()": False,
    "eqreg_session_end(text)": False,
    "eqreg_session_save(text,jsonb,text,text,interval,text,integer)": False,
    "eqreg_sign_in(text,text,text,text)": False,
    "eqreg_store_town_figures(bigint,bigint,json)": False,  # the shared per-town figures (0022)
    "eqreg_taken_codes(text[])": False,  # which codes exist, seen or not: an import's hidden codes (0023)
    "eqreg_token_issue(text,interval,text,integer)": False,
    "eqreg_token_revoke(text)": False,
    "eqreg_user_create(text,text,text,text,text[],text[],text[])": False,
    "eqreg_user_revoke_sessions(text,bigint)": False,
    "eqreg_user_set_active(text,boolean)": False,
    "eqreg_user_set_jurisdictions(text,text[],text[])": False,
    "eqreg_user_set_password(text,text)": False,
    "eqreg_user_set_towns(text,text[])": False,
    "eqreg_verify_password(text,text)": False,
    "eqreg_visible_projects()": False,
}


@dataclass
class Finding:
    """One problem: what is wrong, and whether it was repaired."""
    problem: str
    repaired: bool = False
    hint: str | None = None

    def describe(self) -> str:
        if self.repaired:
            return f"已修复：{self.problem}"
        return f"需处理：{self.problem}" + (f"（{self.hint}）" if self.hint else "")


def check(database_url: str, *, repair: bool = True) -> list[Finding]:
    """Verify the database the app needs; with ``repair`` fix what can be fixed. Run as the owner."""
    findings: list[Finding] = []
    revision, head = schema.current_revision(database_url), schema.head_revision()
    if revision is None:
        return [Finding("数据库尚未初始化（没有迁移版本）", hint="运行 eqreg db upgrade 或 eqreg db restore 备份文件")]
    if revision != head:
        findings.append(Finding(f"表结构版本 {revision} 不是最新的 {head}", hint="运行 eqreg db upgrade"))
    with psycopg.connect(database_url, autocommit=True) as conn:
        fixer = _Fixer(conn, findings, repair)
        fixer.role()
        fixer.schema_usage()
        fixer.table_privileges()
        fixer.sequences_and_functions()
        fixer.definer_functions()
        fixer.row_level_security()
        fixer.spatial_index()
        fixer.default_privileges()
        fixer.rls_probe()
    return findings


def ensure_app_role(conn: psycopg.Connection) -> None:
    """Create ``eqreg_app`` if missing (before a restore, so its grants and policies restore too)."""
    _Fixer(conn, [], repair=True).role()


def unresolved(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not f.repaired]


class _Fixer:
    def __init__(self, conn: psycopg.Connection, findings: list[Finding], repair: bool):
        self.conn, self.findings, self.repair = conn, findings, repair
        self.role_exists = False

    def _fix(self, problem: str, statement: sql.Composable | str, hint: str | None = None) -> None:
        """Record ``problem`` and, when repairing, run ``statement`` in a savepoint-free try."""
        finding = Finding(problem, hint=hint)
        self.findings.append(finding)
        if not self.repair:
            return
        try:
            self.conn.execute(statement)
            finding.repaired = True
        except psycopg.Error as exc:
            finding.hint = f"无法自动修复：{exc.diag.message_primary or exc}"

    def _scalar(self, query: str, params=()):
        return self.conn.execute(query, params).fetchone()[0]

    def role(self) -> None:
        row = self.conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s",
                                (APP_ROLE,)).fetchone()
        if row is None:
            self._fix(f"缺少数据库角色 {APP_ROLE}", sql.SQL(
                "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
                    sql.Identifier(APP_ROLE)))
        elif row[0] or row[1]:
            self._fix(f"角色 {APP_ROLE} 可绕过行级安全（超级用户或 BYPASSRLS）",
                      sql.SQL("ALTER ROLE {} NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(APP_ROLE)))
        self.role_exists = bool(self._scalar("SELECT count(*) FROM pg_roles WHERE rolname = %s", (APP_ROLE,)))

    def schema_usage(self) -> None:
        if self.role_exists and not self._scalar("SELECT has_schema_privilege(%s, 'public', 'USAGE')", (APP_ROLE,)):
            self._fix(f"{APP_ROLE} 不能使用 public 模式", f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")

    def table_privileges(self) -> None:
        if not self.role_exists:
            return
        for table, wanted in APP_PRIVILEGES.items():
            if not self._scalar("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)):
                self.findings.append(Finding(f"缺少表 {table}", hint="运行 eqreg db upgrade"))
                continue
            held = {p for p in _ALL if self._scalar("SELECT has_table_privilege(%s, %s, %s)",
                                                     (APP_ROLE, f"public.{table}", p))}
            target = sql.Identifier(table)
            if missing := [p for p in wanted if p not in held]:
                self._fix(f"{APP_ROLE} 缺少表 {table} 的权限 {'、'.join(missing)}",
                          sql.SQL("GRANT {} ON {} TO {}").format(
                              sql.SQL(", ").join(map(sql.SQL, missing)), target, sql.Identifier(APP_ROLE)))
            if extra := [p for p in _ALL if p in held and p not in wanted]:
                self._fix(f"{APP_ROLE} 多出表 {table} 的权限 {'、'.join(extra)}",
                          sql.SQL("REVOKE {} ON {} FROM {}").format(
                              sql.SQL(", ").join(map(sql.SQL, extra)), target, sql.Identifier(APP_ROLE)))

        # The web role reads every column of users but the hash through column grants (a
        # table-level SELECT was revoked just above); sign-in has the database compare the hash
        # (eqreg_password_settings / eqreg_verify_password, migration 0011).
        if self._scalar("SELECT to_regclass('public.users') IS NOT NULL"):
            if self._scalar("SELECT has_column_privilege(%s, 'public.users', 'password_hash', 'SELECT')", (APP_ROLE,)):
                self._fix(f"{APP_ROLE} 可以读取 users.password_hash", sql.SQL(
                    "REVOKE SELECT (password_hash) ON users FROM {}").format(sql.Identifier(APP_ROLE)))
            unreadable = [row[0] for row in self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = 'users' AND column_name <> 'password_hash' "
                "AND NOT has_column_privilege(%s, 'public.users', column_name, 'SELECT') ORDER BY ordinal_position",
                (APP_ROLE,)).fetchall()]
            if unreadable:
                self._fix(f"{APP_ROLE} 不能读取 users 的 {'、'.join(unreadable)}", sql.SQL(
                    "GRANT SELECT ({}) ON users TO {}").format(
                        sql.SQL(", ").join(map(sql.Identifier, unreadable)), sql.Identifier(APP_ROLE)))

        for (table, privilege), columns in APP_COLUMN_PRIVILEGES.items():
            missing = [c for c in columns if not self._scalar(
                "SELECT has_column_privilege(%s, %s, %s, %s)", (APP_ROLE, f"public.{table}", c, privilege))]
            if missing:
                self._fix(f"{APP_ROLE} 缺少表 {table} 的列权限 {privilege}（{'、'.join(missing)}）", sql.SQL(
                    "GRANT {} ({}) ON {} TO {}").format(
                        sql.SQL(privilege), sql.SQL(", ").join(map(sql.Identifier, missing)),
                        sql.Identifier(table), sql.Identifier(APP_ROLE)))

    def sequences_and_functions(self) -> None:
        if not self.role_exists:
            return
        for (name,) in self.conn.execute(
                "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
                "AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(%s, c.oid, 'USAGE') END ORDER BY 1",
                (APP_ROLE,)).fetchall():
            self._fix(f"{APP_ROLE} 不能使用序列 {name}",
                      sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(
                          sql.Identifier(name), sql.Identifier(APP_ROLE)))
        for (signature,) in self.conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace "
                "AND p.proname LIKE 'eqreg\\_%%' AND NOT has_function_privilege(%s, p.oid, 'EXECUTE') ORDER BY 1",
                (APP_ROLE,)).fetchall():
            self._fix(f"{APP_ROLE} 不能执行函数 {signature}",
                      sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(signature),
                                                                          sql.Identifier(APP_ROLE)))

    def definer_functions(self) -> None:
        """The definer functions RLS and sign-in rely on: present, search_path pinned, not PUBLIC's."""
        found = {signature.replace(" ", ""): (config, public) for signature, config, public in self.conn.execute(
            "SELECT p.oid::regprocedure::text, p.proconfig::text, has_function_privilege('public', p.oid, 'EXECUTE') "
            "FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef "
            "AND p.proname LIKE 'eqreg\\_%'").fetchall()}
        for signature, public_allowed in APP_DEFINER_FUNCTIONS.items():
            if signature not in found:
                self.findings.append(Finding(f"缺少函数 {signature}", hint="运行 eqreg db upgrade，或从备份恢复"))
                continue
            config, public = found[signature]
            if "search_path" not in (config or ""):
                self.findings.append(Finding(f"函数 {signature} 未固定 search_path", hint="从备份恢复"))
            if public and not public_allowed:
                self._fix(f"所有人（PUBLIC）都能执行函数 {signature}",
                          sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(sql.SQL(signature)))
        for signature in sorted(set(found) - set(APP_DEFINER_FUNCTIONS)):
            self.findings.append(Finding(f"多出以所有者权限运行的函数 {signature}",
                                         hint="检查它是否泄露数据（例如旧的 eqreg_password_hash），再删除"))

    def spatial_index(self) -> None:
        """PostGIS's ``&&`` LEAKPROOF (migration 0014), else a bounding-box filter under row-level
        security is no index condition and every map view reads every project. A restore or an
        ``ALTER EXTENSION postgis UPDATE`` drops the flag; setting it takes a superuser."""
        if not self._scalar("SELECT proleakproof FROM pg_proc "
                            "WHERE oid = 'geometry_overlaps(geometry,geometry)'::regprocedure"):
            self._fix("PostGIS 的 && 未标记为 LEAKPROOF：行级安全下地图查询不走空间索引（大库很慢）",
                      "ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF",
                      hint="以超级用户运行 eqreg db check")

    def row_level_security(self) -> None:
        for table, app_policies in APP_POLICIES.items():
            row = self.conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner) FROM pg_class "
                "WHERE oid = to_regclass(%s)", (f"public.{table}",)).fetchone()
            if row is None:
                continue  # reported with the privileges
            enabled, forced, owner = row
            target = sql.Identifier(table)
            if not enabled:
                self._fix(f"表 {table} 未启用行级安全",
                          sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(target))
            if not forced:
                self._fix(f"表 {table} 的行级安全未对所有者强制",
                          sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(target))
            policies = dict(self.conn.execute(
                "SELECT policyname, roles::text[] FROM pg_policies WHERE schemaname = 'public' AND tablename = %s",
                (table,)).fetchall())
            owner_policy = f"{table}_owner_all"
            if owner not in policies.get(owner_policy, []):
                # The owner (CLI, migrations) reads everything; after a restore under another
                # owner name the old policy names a role that is gone or not the owner.
                self._fix(f"表 {table} 缺少所有者 {owner} 的全权策略", sql.SQL(
                    "DROP POLICY IF EXISTS {policy} ON {table}; CREATE POLICY {policy} ON {table} "
                    "TO {owner} USING (true) WITH CHECK (true)").format(
                        policy=sql.Identifier(owner_policy), table=target, owner=sql.Identifier(owner)))
            for name in app_policies:
                if name not in policies:
                    self.findings.append(Finding(
                        f"表 {table} 缺少行级安全策略 {name}",
                        hint="无法自动重建，请用 eqreg db restore 从备份恢复"))

    def default_privileges(self) -> None:
        if not self.role_exists:
            return
        # Tables made by later migrations are usable by the app without another grant.
        for kind, privileges, label in (("r", "SELECT, INSERT, UPDATE, DELETE ON TABLES", "表"),
                                        ("S", "USAGE, SELECT ON SEQUENCES", "序列")):
            present = self._scalar(
                "SELECT count(*) FROM pg_default_acl d WHERE d.defaclrole = "
                "(SELECT relowner FROM pg_class WHERE oid = to_regclass('public.projects')) "
                "AND d.defaclnamespace = 'public'::regnamespace AND d.defaclobjtype = %s "
                "AND array_to_string(d.defaclacl, ',') LIKE %s", (kind, f"%{APP_ROLE}=%"))
            if not present:
                self._fix(f"新建{label}不会自动授权给 {APP_ROLE}", sql.SQL(
                    "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {} TO {}").format(
                        sql.SQL(privileges), sql.Identifier(APP_ROLE)))

    def rls_probe(self) -> None:
        """As eqreg_app with no scope set, nothing may be visible (the policies really apply)."""
        if not self.role_exists or not self._scalar("SELECT pg_has_role(current_user, %s, 'MEMBER')", (APP_ROLE,)):
            return
        if not self._scalar("SELECT to_regclass('public.projects') IS NOT NULL"):
            return
        with self.conn.transaction(force_rollback=True):
            self.conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(APP_ROLE)))
            try:
                leaked = self._scalar("SELECT count(*) FROM projects")
            except psycopg.errors.InsufficientPrivilege:
                return  # reported as a missing grant
        if leaked:
            self.findings.append(Finding(f"行级安全未生效：未登录的 {APP_ROLE} 能看到 {leaked} 个项目",
                                         hint="检查 projects 的策略，或从备份恢复"))
