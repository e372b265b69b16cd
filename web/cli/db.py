"""``eqreg db start|stop|upgrade``."""
from __future__ import annotations

import os

import click

from registry import db as registry_db
from registry import embedded

group = click.Group("db", help="数据库：启动/停止内置数据库，升级表结构")


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
    """Apply every migration (creates the database and PostGIS if needed).

    With EQREG_WEB_PASSWORD set, also creates the web app's login role eqreg_web (production).
    """
    url = registry_db.database_url()
    embedded.ensure_database(url)
    from registry import schema  # alembic: only for this command
    schema.upgrade(url)
    click.echo("数据库表结构已是最新。")
    if os.environ.get("EQREG_WEB_PASSWORD"):
        schema.ensure_web_login(url, os.environ["EQREG_WEB_PASSWORD"])
        click.echo("网站登录角色 eqreg_web 已就绪（属于 eqreg_app，受行级安全约束）。")
