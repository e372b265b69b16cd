"""``eqreg targets load|report|set|baseline``: plan targets (DESIGN §5a) from the command line.

Runs as the operator (full scope); values and baselines are audited with the actor
``cli:<OS user>``. Exit codes: 0 success, 1 refused input or failure, 2 usage error.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from registry import db as registry_db
from registry.errors import InvalidInput
from registry.scope import Scope
from web.cli.users import _actor

group = click.Group("targets", help="规划目标：导入、进度报告、手工填报数值和基数")
FORMATS = ("json", "xlsx", "text")


def _scope() -> Scope:
    return Scope.system(_actor())


@group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def load(path: str) -> None:
    """Load or reload a target file (YAML); idempotent by target id."""
    from registry import targets
    with registry_db.session_scope() as session:
        result = targets.load_file(session, _scope(), Path(path).read_bytes())
    click.echo(f"已导入 {result.jurisdictions} 个辖区的目标：新增 {result.added} 个，更新 {result.updated} 个，"
               f"未变 {result.unchanged} 个。")


@group.command("report")
@click.option("--as-of", "as_of", metavar="DATE", help="统计日期 YYYY-MM-DD（默认今天）")
@click.option("--district", metavar="CODE", help="区县代码（含其下的功能区）、功能区代码，或地市（4 位）、省（2 位）代码")
@click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False), required=True, help="输出格式")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="输出文件（默认标准输出；xlsx 必填）")
def report(as_of: str | None, district: str | None, fmt: str, output: str | None) -> None:
    """Progress of every target as of a date: JSON, text, or the month's 调度表 workbook (XLSX)."""
    from registry import target_output, target_report
    fmt = fmt.lower()
    if fmt == "xlsx" and not output:
        raise click.UsageError("xlsx 格式需要用 -o 指定输出文件")
    date = target_report.parse_as_of(as_of)
    if fmt == "xlsx":  # DESIGN §9: the monthly 调度表 of the month containing --as-of
        from registry import periods
        from web.cli import progress
        click.echo(progress.write(periods.of_date(date), output, as_of=date, district=district))
        return
    with registry_db.session_scope() as session:
        result = target_report.report(session, _scope(), as_of=date, district=district)
    content = (json.dumps(result.as_json(), ensure_ascii=False, indent=2) + "\n" if fmt == "json"
               else target_output.as_text(result))
    if output:
        Path(output).write_text(content, encoding="utf-8")
        click.echo(f"已写出 {len(result.targets)} 个目标到 {output}", err=True)
    else:
        sys.stdout.write(content)


@group.command("set")
@click.argument("target_id", metavar="ID")
@click.argument("value")
@click.option("--as-of", "as_of", metavar="DATE", help="数值对应的日期 YYYY-MM-DD（默认今天）")
def set_value(target_id: str, value: str, as_of: str | None) -> None:
    """Enter the value of a target measured by hand (metric ``reported``)."""
    from registry import target_report, targets
    date = target_report.parse_as_of(as_of)
    with registry_db.session_scope() as session:
        entry = targets.set_value(session, _scope(), target_id, _number(value), as_of=date)
    click.echo(f"已录入目标 {target_id} 的数值 {entry.value.normalize():f}（{entry.as_of.isoformat()}）。")


@group.command("baseline")
@click.argument("target_id", metavar="ID")
@click.argument("value")
def baseline(target_id: str, value: str) -> None:
    """Enter the baseline (万元, 2023) of a growth target (metric ``growth_vs_baseline``)."""
    from registry import targets
    with registry_db.session_scope() as session:
        entry = targets.set_baseline(session, _scope(), target_id, _number(value))
    click.echo(f"已录入目标 {target_id} 的基数 {entry.value.normalize():f} 万元。")


def _number(value: str) -> str:
    text = value.strip().replace(",", "")
    if text.endswith("%"):
        try:
            return str(float(text[:-1]) / 100)
        except ValueError:
            pass
    try:
        float(text)
    except ValueError:
        raise InvalidInput(f"数值无效：{value}", {"value": value}) from None
    return text


@group.command("zone")
@click.argument("code")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", help="覆盖文件的坐标系（WGS84、CGCS2000、GCJ02、BD09 或 EPSG 代码）")
@click.option("--encoding", help="属性表编码（默认自动识别）")
def zone(code: str, path: str, crs: str | None, encoding: str | None) -> None:
    """Store the boundary of a zone (度假区/开发区) whose targets were loaded: all polygons of the file."""
    from registry import boundaries, targets
    outline = boundaries.read_outline(path, crs=crs, encoding=encoding)
    with registry_db.session_scope() as session:
        targets.set_zone_boundary(session, _scope(), code, outline)
    click.echo(f"已保存功能区 {code} 的边界。")
