"""``eqreg db start|stop|upgrade|downgrade|check|backup|restore``."""
from __future__ import annotations

import os
import sys

import click

from registry import db as registry_db
from registry import embedded

group = click.Group("db", help="数据库：启动/停止内置数据库，升级/降级表结构，检查，备份与恢复")


@group.command()
def start() -> None:
    """Start the embedded database under ./var/ (ignored when DATABASE_URL is set)."""
    if os.environ.get("DATABASE_URL"):
        click.echo("已设置 DATABASE_URL，不启动内置数据库。")
        return
    click.echo(f"内置数据库已启动：{embedded.start()}")


@group.command()
def stop() -> None:
    """Stop the embedded database."""
    embedded.stop()
    click.echo("内置数据库已停止。")


@group.command()
def upgrade() -> None:
    """Apply every migration (creates the database and PostGIS if needed), then repair roles and grants.

    With EQREG_WEB_PASSWORD set, also creates the web app's login role eqreg_web (production).
    """
    url = registry_db.database_url()
    embedded.ensure_database(url)
    from registry import db_check, schema  # alembic: only for these commands
    schema.upgrade(url)
    click.echo("数据库表结构已是最新。")
    healthy = _report(db_check.check(url, repair=True), quiet_when_ok=True)
    if os.environ.get("EQREG_WEB_PASSWORD"):
        schema.ensure_web_login(url, os.environ["EQREG_WEB_PASSWORD"])
        click.echo("网站登录角色 eqreg_web 已就绪（属于 eqreg_app，受行级安全约束）。")
    if not healthy:
        sys.exit(1)


@group.command()
@click.argument("revision")
@click.option("--force", is_flag=True, help="即使会删除数据也降级（先用 eqreg db backup 备份）")
def downgrade(revision: str, force: bool) -> None:
    """Downgrade the schema to REVISION; refused when that would drop data, unless --force."""
    from registry import schema
    losses = schema.downgrade(registry_db.database_url(), revision, force=force)
    if losses:
        click.echo("已删除：" + "；".join(loss.describe() for loss in losses))
    click.echo(f"数据库表结构已降级到 {revision}。")


@group.command()
@click.option("--no-repair", is_flag=True, help="只检查，不修复")
def check(no_repair: bool) -> None:
    """Verify roles, grants, row-level security and the migration version; repair what can be repaired."""
    from registry import db_check
    findings = db_check.check(registry_db.database_url(), repair=not no_repair)
    if not _report(findings):
        sys.exit(1)


@group.command()
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def backup(path: str) -> None:
    """Write a backup of the whole database to PATH (pg_dump custom format)."""
    from registry import backup as backups
    url = registry_db.database_url()
    projects, users = backups.registry_size(url)
    size = backups.backup(url, path)
    click.echo(f"已备份 {projects} 个项目、{users} 个用户到 {path}（{size / 1e6:.1f} MB）。")


@group.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="目标数据库已有数据时仍然覆盖")
def restore(path: str, force: bool) -> None:
    """Restore PATH (from eqreg db backup) into the database, re-create roles and grants, verify RLS.

    With EQREG_WEB_PASSWORD set, also creates the web app's login role eqreg_web (not in a backup).
    """
    from registry import backup as backups
    from registry import schema
    url = registry_db.database_url()
    result = backups.restore(url, path, force=force)
    click.echo(f"已恢复 {result.projects} 个项目、{result.users} 个用户。")
    if result.upgraded_from:
        click.echo(f"备份的表结构版本 {result.upgraded_from} 较旧，已升级到最新。")
    if os.environ.get("EQREG_WEB_PASSWORD"):  # login roles live in the cluster, not in the backup
        schema.ensure_web_login(url, os.environ["EQREG_WEB_PASSWORD"])
        click.echo("网站登录角色 eqreg_web 已就绪（属于 eqreg_app，受行级安全约束）。")
    if not _report(result.findings, quiet_when_ok=True):
        sys.exit(1)


def _report(findings, *, quiet_when_ok: bool = False) -> bool:
    """Print the check's findings; True when nothing is left to do."""
    from registry.db_check import unresolved
    for finding in findings:
        click.echo(finding.describe(), err=not finding.repaired)
    left = unresolved(findings)
    if not left and not (quiet_when_ok and not findings):
        click.echo("检查通过：角色、权限、行级安全与表结构版本均正常。")
    return not left
