"""``eqreg projects import PATH [--crs CRS] [--sheet NAME] [--dry-run] [--strict] [--clear-blanks]
[--restore] [--report FILE] [--district CODE]``: exit 0 when every row was accepted, 1 when rows
were rejected (or ``--strict`` refused the file) or on failure."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from registry import db as registry_db
from registry.import_report import kind_label
from registry.vocab import crs_code


def _crs_option(ctx, param, value: str) -> str:
    code = crs_code(value)
    if code is None:
        raise click.BadParameter(f"不支持的坐标系“{value}”（可用 WGS84、CGCS2000、GCJ02、BD09）")
    return code


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--crs", default="WGS84", show_default=True, callback=_crs_option,
              help="未填“坐标系”的行所用坐标系：WGS84、CGCS2000、GCJ02、BD09")
@click.option("--sheet", help="XLSX 工作表名称（默认第一个）")
@click.option("--dry-run", is_flag=True, help="只检查，不写入")
@click.option("--strict", is_flag=True, help="任一行有错误、或将清空已有值（will_clear），则全部不写入")
@click.option("--clear-blanks", is_flag=True, help="已有项目的空白单元格清空库中的值（默认保留原值）")
@click.option("--restore", is_flag=True, help="恢复并更新已删除的项目（默认报错 deleted_project）")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, writable=True),
              help="导入报告文件：.json 或 .xlsx")
@click.option("--district", help="行政区代码（库中有多个行政区时必填）")
def import_command(path: str, crs: str, sheet: str | None, dry_run: bool, strict: bool,
                   clear_blanks: bool, restore: bool, report_path: str | None,
                   district: str | None) -> None:
    """Import projects from a CSV or XLSX file in the import template."""
    from registry.importing import import_projects

    def waiting() -> None:
        click.echo("另一个导入正在写入同一行政区，正在等待它完成……", err=True)

    with registry_db.session_scope() as session, \
            tqdm(unit="行", desc="导入", disable=not sys.stderr.isatty()) as bar:
        report = import_projects(session, path, district_code=district, default_crs=crs,
                                 sheet=sheet, dry_run=dry_run, strict=strict,
                                 clear_blanks=clear_blanks, restore=restore, actor="cli",
                                 when_busy=waiting, progress=bar.update)
    if report_path:
        if report_path.lower().endswith(".xlsx"):
            report.write_xlsx(report_path)
        else:
            Path(report_path).write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=1),
                                         encoding="utf-8")
    for problem in report.problems[:20]:
        level = "错误" if problem.severity == "error" else "警告"
        click.echo(f"第 {problem.row} 行 [{level}] {problem.column or ''} {kind_label(problem.kind)}："
                   f"{problem.message}", err=True)
    if len(report.problems) > 20:
        click.echo(f"……共 {len(report.problems)} 条问题" + ("，见报告文件" if report_path else
                                                         "，用 --report FILE 保存完整报告"), err=True)
    for entry in report.changes[:20]:
        fields = "、".join(change["label"] for change in entry["fields"])
        verb = "已改动" if report.written else "将改动"
        click.echo(f"第 {entry['row']} 行 {entry['code']} {entry['name']}：{verb} {fields}", err=True)
    if len(report.changes) > 20:
        click.echo(f"……共 {len(report.changes)} 个项目有改动" + ("，见报告文件" if report_path else ""), err=True)
    refused = strict and (report.rejected or report.clears)
    if refused:
        click.echo("有错误行或将清空已有值，--strict 模式下未写入任何项目。")
    elif dry_run:
        click.echo("试运行（--dry-run），未写入。")
    click.echo(report.summary())
    sys.exit(1 if report.rejected or refused else 0)
