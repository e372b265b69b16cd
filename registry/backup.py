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


def backup(database_url: str, path: str | os.PathLike) -> int:
    """Dump the database to ``path`` (custom format, written atomically). Returns its size in bytes."""
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    _run([embedded.pg_program("pg_dump"), "--format=custom", "--file", str(partial),
          "--dbname", database_url], "备份")
    partial.replace(target)
    return target.stat().st_size


def registry_size(database_url: str) -> tuple[int, int]:
    """(projects, users) in the database; (0, 0) when it has no registry tables yet."""
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
    ``force``: then its public schema is dropped first. Run as the role that should own the tables.
    """
    archive = Path(path)
    if not archive.is_file():
        raise InvalidInput(f"找不到备份文件：{archive}", {"path": str(archive)})
    entries = _toc(archive)
    embedded.ensure_database(database_url)
    projects, users = registry_size(database_url)
    if (projects or users) and not force:
        raise RegistryNotEmpty(
            f"目标数据库已有 {projects} 个项目、{users} 个用户，恢复会覆盖它们。"
            "请先备份（eqreg db backup），确定覆盖时加 --force。", {"projects": projects, "users": users})
    with psycopg.connect(database_url, autocommit=True) as conn:
        if _has_tables(conn):
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        db_check.ensure_app_role(conn)
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as listing:
        listing.write("".join(line for line in entries if not _SKIPPED_ENTRY.search(line)))
    try:
        _run([embedded.pg_program("pg_restore"), "--no-owner", "--single-transaction", "--exit-on-error",
              "--use-list", listing.name, "--dbname", database_url, str(archive)], "恢复")
    finally:
        os.unlink(listing.name)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ANALYZE")  # pg_restore leaves no statistics; RLS plans depend on them
    findings = db_check.check(database_url, repair=True)
    projects, users = registry_size(database_url)
    schema.record_maintenance(database_url, "db.restore", archive.name,
                              {"projects": projects, "users": users, "forced": force})
    return RestoreResult(projects=projects, users=users, findings=findings)


def _toc(archive: Path) -> list[str]:
    done = subprocess.run([embedded.pg_program("pg_restore"), "--list", str(archive)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise InvalidInput(f"{archive} 不是 eqreg db backup 生成的备份文件：{done.stderr.strip()}",
                           {"path": str(archive)})
    return done.stdout.splitlines(keepends=True)


def _has_tables(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                             "AND relkind IN ('r', 'p') AND relname <> 'spatial_ref_sys'").fetchone()[0])


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RegistryError(f"{what}失败：{done.stderr.strip() or done.stdout.strip()}")
