"""``eqreg demo``: upgrade the database and load the demo district and projects (idempotent)."""
from __future__ import annotations

import click

from registry import db as registry_db
from registry import embedded


@click.command("demo")
@click.option("--seed", default=2024, show_default=True, help="随机种子（同一种子生成相同的项目）")
@click.option("--count", default=300, show_default=True, type=click.IntRange(1, 5000),
              help="演示项目数（每个区县）")
@click.option("--districts", default=None, metavar="CODES",
              help="加载多个演示区县（逗号分隔，可选 370403、370784、371502），并建立省、市查看账号")
def demo(seed: int, count: int, districts: str | None) -> None:
    """Load the demo: 薛城区 with approximate towns and an invented project library."""
    from registry import schema
    from registry.demo import (DEMO_DISTRICT, DEMO_DISTRICTS, DEMO_USERS, LABEL, ROLLUP_USERS,
                               ensure_demo_users, load_demo, load_demo_targets, parse_districts)
    codes = parse_districts(districts) if districts is not None else [DEMO_DISTRICT]
    url = registry_db.database_url()
    embedded.ensure_database(url)
    schema.upgrade(url)
    click.echo("数据库表结构已是最新。")
    with registry_db.session_scope() as session:
        results = [load_demo(session, seed=seed + i, count=count, actor="demo", district=code)
                   for i, code in enumerate(codes)]
        targets = load_demo_targets(session, [r.district_code for r in results], levels=districts is not None)
        ensure_demo_users(session, rollup=districts is not None)
    for result in results:
        name = DEMO_DISTRICTS[result.district_code][1].name
        if result.already_loaded:
            click.echo(f"{name}演示数据已加载过，未做改动。" if districts is not None else "演示数据已加载过，未做改动。")
        if result.towns_loaded:
            click.echo(f"已加载{name}（{result.district_code}）{result.towns_loaded} 个镇街边界 —— {LABEL}")
        for note in result.notes:
            click.echo(note)
        if result.report is not None:
            click.echo(f"演示项目导入：{result.report.summary()}")
    if targets:
        click.echo(f"已加载规划目标：{'、'.join(targets)}（data/targets，市、省目标为虚构的演示数据）")
    click.echo("演示账号（仅供演示，正式使用请用 eqreg users add 建立账号）：")
    for username, role, towns, display_name, password in DEMO_USERS:
        click.echo(f"  {username:<10} 密码 {password:<13} {display_name}")
    for username, reach, display_name, password in ROLLUP_USERS if districts is not None else ():
        click.echo(f"  {username:<10} 密码 {password:<13} {display_name}")
    click.echo("启动网页：eqreg serve" + ("（省、市汇总：/rollup）" if districts is not None else ""))


group = demo  # web.cli._register adds each module's ``group``
