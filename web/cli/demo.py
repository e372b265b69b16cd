"""``eqreg demo``: upgrade the database and load the demo district and projects (idempotent)."""
from __future__ import annotations

import click

from registry import db as registry_db
from registry import embedded


@click.command("demo")
@click.option("--seed", default=2024, show_default=True, help="随机种子（同一种子生成相同的项目）")
@click.option("--count", default=300, show_default=True, type=click.IntRange(1, 5000), help="演示项目数")
def demo(seed: int, count: int) -> None:
    """Load the demo: 薛城区 with approximate towns and an invented project library."""
    from registry import schema
    from registry.demo import DEMO_USERS, LABEL, ensure_demo_users, load_demo
    url = registry_db.database_url()
    embedded.ensure_database(url)
    schema.upgrade(url)
    click.echo("数据库表结构已是最新。")
    with registry_db.session_scope() as session:
        result = load_demo(session, seed=seed, count=count, actor="demo")
        ensure_demo_users(session)
    if result.already_loaded:
        click.echo("演示数据已加载过，未做改动。")
    if result.towns_loaded:
        click.echo(f"已加载薛城区（370403）{result.towns_loaded} 个镇街边界 —— {LABEL}")
    for note in result.notes:
        click.echo(note)
    if result.report is not None:
        click.echo(f"演示项目导入：{result.report.summary()}")
    click.echo("演示账号（仅供演示，正式使用请用 eqreg users add 建立账号）：")
    for username, role, towns, display_name, password in DEMO_USERS:
        click.echo(f"  {username:<10} 密码 {password:<13} {display_name}")
    click.echo("启动网页：eqreg serve")


group = demo  # web.cli._register adds each module's ``group``
