"""``eqreg progress schedule --period YYYY-MM -o FILE``: the month's 调度表 workbook (XLSX)."""
from __future__ import annotations

import click

from registry import db as registry_db

group = click.Group("progress", help="月度调度：进度上报、调度表")


@group.command("schedule")
@click.option("--period", help="上报月份 YYYY-MM（默认本月）")
@click.option("--town", help="镇街代码（9 位）：只含在该镇街有份额的项目")
@click.option("--domain", help="领域（代码或中文名）")
@click.option("--key/--not-key", "is_key", default=None, help="只含重点项目（--not-key：只含非重点项目）")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="输出文件（.xlsx）")
def schedule(period: str | None, town: str | None, domain: str | None, is_key: bool | None,
             output: str) -> None:
    """Write the monthly 调度表 (targets, projects, not reported) of the whole registry."""
    click.echo(write(period, output, town=town, domain=domain, is_key=is_key))


def write(period: str | None, output: str, as_of=None, district: str | None = None, **filter_values) -> str:
    """Write the workbook (operator's scope, audited); return the one-line summary to show.
    Shared with ``eqreg targets report --format xlsx`` (the month containing ``as_of``; the
    targets sheet is as of that date)."""
    from registry import periods
    from registry.filters import ProjectFilters
    from registry.schedule import export_schedule
    from registry.scope import Scope
    month = periods.parse(period)
    is_key = filter_values.pop("is_key", None)
    filters = ProjectFilters.parse({**filter_values,
                                    "is_key": None if is_key is None else str(is_key).lower()})
    with registry_db.session_scope() as session:
        summary = export_schedule(session, output, scope=Scope.system("cli"), period=month, actor="cli",
                                  filters=filters, as_of=as_of, district=district)
    return (f"已导出 {periods.label(month)} 调度表到 {output}：{summary['projects']} 个项目，"
            f"本月完成投资 {summary['increase']:,.2f} 万元，{summary['not_reported']} 个项目未上报")
