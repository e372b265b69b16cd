"""``eqreg projects export --format geojson|csv|xlsx|gpkg [filters] -o FILE``."""
from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import click
from tqdm import tqdm

from registry import db as registry_db

log = logging.getLogger(__name__)
FORMAT_NAMES = {"geojson": "GeoJSON", "csv": "CSV", "xlsx": "Excel", "gpkg": "GeoPackage"}


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(tuple(FORMAT_NAMES), case_sensitive=False), required=True,
              help="导出格式")
@click.option("--town", help="镇街代码（9 位）：只导出在该镇街有份额的项目")
@click.option("--domain", help="领域（代码或中文名）")
@click.option("--stage", help="项目阶段（代码或中文名）")
@click.option("--year", help="年份（口径见 --year-of）")
@click.option("--year-of", type=click.Choice(("planned_start", "actual_start", "actual_end")),
              default="planned_start", show_default=True,
              help="年份口径：计划开工（未填时取项目代码中的年份）、实际开工或实际竣工")
@click.option("--key/--not-key", "is_key", default=None, help="只导出重点项目（--not-key：只导出非重点项目）")
@click.option("--q", help="名称、代码、建设单位或地址中的文字")
@click.option("--province", help="省代码（2 位）：只导出该省各区县的项目")
@click.option("--city", help="市代码（4 位）：只导出该市各区县的项目")
@click.option("--district", help="区县代码（6 位）：只导出该区县的项目")
@click.option("-o", "--output", type=click.Path(writable=True), required=True,
              help="输出文件；给出一个已有目录时，文件按内容命名（如 项目_山东省-37_2026-12-01.geojson）")
def export(fmt: str, town: str | None, domain: str | None, stage: str | None, year: str | None,
           year_of: str, is_key: bool | None, q: str | None, province: str | None, city: str | None,
           district: str | None, output: str) -> None:
    """Export projects (the whole registry: the operator's scope, or one province, city or
    district of it) to a file."""
    levels = {"province": province, "city": city, "district": district}
    if not any((town, domain, stage, year, is_key is not None, q, province, city, district)):
        if Path(output).is_dir():  # the name export_filename gives an export without filters
            output = str(Path(output) / f"项目_{dt.date.today().isoformat()}.{fmt.lower()}")
        written = _whole_registry(fmt.lower(), output)
        click.echo(f"已导出 {written} 个项目（{FORMAT_NAMES[fmt.lower()]}）到 {output}")
        return
    from registry.exporting import count_projects, export_filename, export_projects
    from registry.filters import ProjectFilters
    from registry.scope import Scope
    filters = ProjectFilters.parse({"town": town, "domain": domain, "stage": stage, "year": year,
                                    "year_of": year_of, "q": q,
                                    "is_key": None if is_key is None else str(is_key).lower()})
    from registry.rollup import export_jurisdiction, narrowed_scope, place_title
    level = export_jurisdiction(levels)
    with registry_db.session_scope() as session:
        scope = narrowed_scope(session, Scope.system("cli"), level)
        if Path(output).is_dir():  # named after the level and filters, as the web download is
            output = str(Path(output) / export_filename(session, filters, fmt.lower(),
                                                        place=place_title(session, level) if level else None))
        total = count_projects(session, scope=scope, filters=filters)
        with tqdm(total=total, unit="项", desc="导出", disable=not sys.stderr.isatty()) as bar:
            written = export_projects(session, fmt.lower(), output, scope=scope, filters=filters,
                                      progress=bar.update)
    log.debug("exported %d projects as %s to %s", written, fmt, output)
    click.echo(f"已导出 {written} 个项目（{FORMAT_NAMES[fmt.lower()]}）到 {output}")


def _whole_registry(fmt: str, output: str) -> int:
    """The whole registry by COPY with psycopg alone (``registry.copy_export``): neither
    SQLAlchemy nor pandas is loaded, so the command starts in a fraction of the time."""
    from registry.copy_export import write_whole_registry
    with tqdm(unit="项", desc="导出", disable=not sys.stderr.isatty()) as bar:
        return write_whole_registry(registry_db.database_url(), fmt, output, progress=bar.update)
