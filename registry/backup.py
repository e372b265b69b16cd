"""``eqreg db backup|restore``: a pg_dump custom-format archive, restorable on a fresh server.

A plain ``pg_restore`` onto a new server fails half-way: the role ``eqreg_app`` the grants and
policies name does not exist there, and the owner's permissive policies name the old owner. So
``restore`` creates the role first, restores as the current user in one transaction (all or
nothing), leaves out what names the old owner (its policies, default privileges, ownership) and
lets ``registry.db_check`` re-create those for the new owner and verify row-level security.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from registry import db_check, embedded, schema
from registry.errors import Conflict, InvalidInput, RegistryError

# TOC entries restore leaves out: re-created for the restoring owner by db_check, or PostGIS's
# own (a non-superuser owner may not comment on the extension or write its spatial_ref_sys).
_SKIPPED_ENTRY = re.compile(r" (POLICY public \S+ \S+_owner_all|DEFAULT ACL |COMMENT - EXTENSION "
                            r"|TABLE DATA public spatial_ref_sys |ACL public TABLE spatial_ref_sys )")


class RegistryNotEmpty(Conflict):
    code = "registry_not_empty"


@dataclass
class RestoreResult:
    projects: int
    users: int
    findings: list[db_check.Finding] = field(default_factory=list)
    upgraded_from: str | None = None  # the backup's migration revision, when it was older than head


def backup(database_url: str, path: str | os.PathLike) -> int:
    """Dump the database to ``path`` (custom format, written atomically). Returns its size in bytes.

    A superuser dumps past row-level security; the tables' owner (not a superuser) dumps through it,
    which is complete only while its permissive owner policies are in place: checked first.
    """
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    options = [] if _bypasses_rls(database_url) else ["--enable-row-security"]
    _run([embedded.pg_program("pg_dump"), "--format=custom", *options, "--file", str(partial),
          "--dbname", database_url], "备份")
    partial.replace(target)
    return target.stat().st_size


def _bypasses_rls(database_url: str) -> bool:
    """True for a superuser or BYPASSRLS role; otherwise refuse if RLS would hide rows from it."""
    with psycopg.connect(database_url) as conn:
        if conn.execute("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            return True
        hidden = [name for (name,) in conn.execute("""
            SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace AND c.relrowsecurity
              AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'MEMBER'))
              AND NOT EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
                              AND p.permissive = 'PERMISSIVE' AND p.cmd IN ('ALL', 'SELECT') AND p.qual = 'true'
                              AND (current_user = ANY (p.roles) OR 'public' = ANY (p.roles)))
            ORDER BY 1""")]
    if hidden:
        raise RegistryError(f"行级安全会让备份漏掉这些表中的数据：{'、'.join(hidden)}（缺少所有者的全权策略）。"
                            "请先运行 eqreg db check 修复，再备份。", {"tables": hidden})
    return False


def registry_size(database_url: str) -> tuple[int, int]:
    """(projects, users) the connecting role sees; (0, 0) when there are no registry tables yet."""
    with psycopg.connect(database_url) as conn:
        counts = []
        for table in ("projects", "users"):
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)).fetchone()[0]
            counts.append(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                                       ).fetchone()[0] if exists else 0)
    return counts[0], counts[1]


def restore(database_url: str, path: str | os.PathLike, *, force: bool = False) -> RestoreResult:
    """Restore a ``backup`` archive into ``database_url`` (created if missing) and verify it.

    Refuses (``RegistryNotEmpty``) when the database already holds projects or users, unless
    ``force``: then what it holds is dropped in the restore's own transaction, so a failed restore
    leaves it as it was. Run as the role that should own the tables.
    """
    archive = Path(path)
    if not archive.is_file():
        raise InvalidInput(f"找不到备份文件：{archive}", {"path": str(archive)})
    entries = _toc(archive)
    embedded.ensure_database(database_url)
    projects, users = registry_size(database_url)
    if not (projects or users or force) and _rows_hidden(database_url):
        raise RegistryNotEmpty("无法确认目标数据库是否为空（行级安全不让当前用户看到其中的数据）："
                               "请先运行 eqreg db check，或确定覆盖时加 --force。")
    if (projects or users) and not force:
        raise RegistryNotEmpty(
            f"目标数据库已有 {projects} 个项目、{users} 个用户，恢复会覆盖它们。"
            "请先备份（eqreg db backup），确定覆盖时加 --force。", {"projects": projects, "users": users})
    with psycopg.connect(database_url, autocommit=True) as conn:
        db_check.ensure_app_role(conn)
        prelude = _drop_existing(conn)
    with tempfile.TemporaryDirectory(prefix="eqreg-restore-") as tmp:
        listing, drops = Path(tmp) / "restore.list", Path(tmp) / "drop.sql"
        listing.write_text("".join(line for line in entries if not _SKIPPED_ENTRY.search(line)))
        drops.write_text(prelude)
        _restore_in_one_transaction(database_url, archive, listing, drops)
    upgraded_from = _upgrade_if_older(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # pg_restore leaves no statistics; RLS plans depend on them
        # The restored change stamp is an older one: running servers may have cached figures and
        # API answers under the stamps that follow it. A new epoch makes every such key unreachable.
        conn.execute("UPDATE registry_changes SET epoch = floor(random() * 9e15)::bigint")
    findings = db_check.check(database_url, repair=True)
    projects, users = registry_size(database_url)
    schema.record_maintenance(database_url, "db.restore", archive.name,
                              {"projects": projects, "users": users, "forced": force})
    return RestoreResult(projects=projects, users=users, findings=findings, upgraded_from=upgraded_from)


def _rows_hidden(database_url: str) -> bool:
    """Whether the statistics count rows in projects or users that a count(*) did not see (a lost
    owner policy makes a full registry look empty to its non-superuser owner)."""
    with psycopg.connect(database_url) as conn:
        return bool(conn.execute("SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables "
                                 "WHERE schemaname = 'public' AND relname IN ('projects', 'users')").fetchone()[0])


def _upgrade_if_older(database_url: str) -> str | None:
    """Migrate a backup made by an older version to head; returns the revision it had (None: none needed).

    A backup from a newer version (a revision this code does not know) is left as it is; the check
    that follows reports it.
    """
    revision = schema.current_revision(database_url)
    if revision is None or revision == schema.head_revision() or not schema.is_known(revision):
        return None
    schema.upgrade(database_url)
    return revision


def _toc(archive: Path) -> list[str]:
    done = subprocess.run([embedded.pg_program("pg_restore"), "--list", str(archive)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise InvalidInput(f"{archive} 不是 eqreg db backup 生成的备份文件：{done.stderr.strip()}",
                           {"path": str(archive)})
    return done.stdout.splitlines(keepends=True)


def _drop_existing(conn: psycopg.Connection) -> str:
    """SQL dropping the tables, views and functions of ``public`` that no extension owns, and the
    owner's default grants to the app."""
    not_extension = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = {catalog}::regclass "
                     "AND d.objid = o.oid AND d.deptype = 'e')")
    relations = conn.execute(
        "SELECT format('DROP %s IF EXISTS %s CASCADE;', CASE o.relkind WHEN 'v' THEN 'VIEW' "
        "WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, o.oid::regclass) FROM pg_class o "
        "WHERE o.relnamespace = 'public'::regnamespace AND o.relkind IN ('r', 'p', 'v', 'm') AND "
        + not_extension.format(catalog="'pg_class'")).fetchall()
    functions = conn.execute(
        "SELECT format('DROP FUNCTION IF EXISTS %s CASCADE;', o.oid::regprocedure) FROM pg_proc o "
        "WHERE o.pronamespace = 'public'::regnamespace AND " + not_extension.format(catalog="'pg_proc'")
    ).fetchall()
    # The owner's default grants would give the restored tables more than the backup says (they are
    # set again by db_check after the restore).
    defaults = [f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON {kind} FROM {db_check.APP_ROLE};"
                for kind in ("TABLES", "SEQUENCES")]
    return "\n".join([statement for (statement,) in relations + functions] + defaults) + "\n"


# Sent to psql when pg_restore failed part-way: an error, so the single transaction rolls back
# instead of committing a partial restore (inside a COPY it is a malformed row, also an error).
_ABORT = b"\n\\.\nDO $$ BEGIN RAISE EXCEPTION 'pg_restore failed'; END $$;\n"


def _restore_in_one_transaction(database_url: str, archive: Path, listing: Path, drops: Path) -> None:
    """``drops`` then the archive's entries in ``listing``, through psql in a single transaction."""
    errors = listing.with_name("errors.txt")
    with errors.open("w+b") as error_log:
        script = subprocess.Popen([embedded.pg_program("pg_restore"), "--no-owner", "--use-list", str(listing),
                                   "--file", "-", str(archive)], stdout=subprocess.PIPE, stderr=error_log)
        loader = subprocess.Popen([embedded.pg_program("psql"), "--no-psqlrc", "--quiet", "--single-transaction",
                                   "--set", "ON_ERROR_STOP=1", "--dbname", database_url, "--file", str(drops),
                                   "--file", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=error_log, env={**os.environ, "PGOPTIONS": "-c client_min_messages=warning"})
        try:
            while chunk := script.stdout.read(1 << 20):
                loader.stdin.write(chunk)
            if script.wait() != 0:
                loader.stdin.write(_ABORT)
            loader.stdin.close()
        except BrokenPipeError:  # psql stopped at an error: it has rolled back already
            script.kill()
        script.wait()
        loader.wait()
        error_log.seek(0)
        message = error_log.read().decode(errors="replace").strip()
    if script.returncode != 0 or loader.returncode != 0:
        raise RegistryError(f"恢复失败（数据库未改动）：{message}")


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RegistryError(f"{what}失败：{done.stderr.strip() or done.stdout.strip()}")
