"""``eqreg boundaries load``: district outlines and town boundaries from GeoJSON, Shapefile, GeoPackage."""
from __future__ import annotations

from typing import TYPE_CHECKING

import click

from registry import db as registry_db

if TYPE_CHECKING:
    from registry.boundaries import BoundaryReport

group = click.Group("boundaries", help="边界：导入区县轮廓和镇街边界")

LISTED = 10  # rows of overlaps/gaps printed; the rest are summarised


@group.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--level", type=click.Choice(["district", "town"]), default="town", show_default=True,
              help="边界级别：区县轮廓或镇街")
@click.option("--code-field", help="代码字段（默认 code，或国土调查的 XZQDM）")
@click.option("--name-field", help="名称字段（默认 name，或国土调查的 XZQMC）")
@click.option("--parent", help="上级代码：镇街所属区县（如 370403），所有代码必须在其下")
@click.option("--crs", help="覆盖文件坐标系：WGS84、CGCS2000、GCJ02、BD09 或 EPSG:4549 等")
@click.option("--encoding", help="属性编码（默认读 .cpg，否则 UTF-8，不行再按 GBK）")
@click.option("--city", help="所属市代码（4 位，如 3704）：默认取区县代码前 4 位，开发区等取其上级区县的")
@click.option("--province", help="所属省代码（2 位，如 37）：默认同上")
def load(path, level, code_field, name_field, parent, crs, encoding, city, province) -> None:
    """Load PATH; a town load makes a new version of the district's towns and re-matches projects."""
    from registry.boundaries import load_boundaries  # geopandas: only for this command
    with registry_db.session_scope() as session:
        report = load_boundaries(session, path, level=level, code_field=code_field, name_field=name_field,
                                 parent=parent, crs=crs, encoding=encoding, actor="cli", city=city,
                                 province=province)
    _print_summary(report)


def _print_summary(report: BoundaryReport) -> None:
    kind = "区县轮廓" if report.level == "district" else "镇街边界"
    click.echo(f"已导入 {len(report.loaded)} 个{kind}：{report.source}"
               f"（坐标系 {report.source_crs}，编码 {report.encoding or '未知'}，"
               f"字段 {report.code_field}/{report.name_field}）")
    for item in report.loaded:
        version = f" 第 {item.version} 版" if report.level == "town" else ""
        repaired = f"  [{'；'.join(item.repairs)}]" if item.repaired else ""
        click.echo(f"  {item.code} {item.name}{version} {item.area_km2:.2f} km²{repaired}")
    for note in report.notes:
        click.echo(f"  注：{note}")
    repaired = sum(1 for item in report.loaded if item.repaired)
    click.echo(f"修复几何：{repaired} 个" if repaired else "几何均有效，无需修复。")
    if report.removed:
        click.echo("新版本中不再有的镇街（旧版本已保留）：" +
                   "、".join(f"{t['code']} {t['name']}" for t in report.removed))
    _print_rows("镇街重叠", report.overlaps,
                lambda o: f"{o['code_a']} {o['name_a']} 与 {o['code_b']} {o['name_b']}：{o['area_km2']:.4f} km²")
    _print_rows("边界缝隙", report.gaps,
                lambda g: f"{g['district_code']} 约 {g['area_km2']:.4f} km²，位于 ({g['lng']:.5f}, {g['lat']:.5f})")
    if report.level == "town":
        click.echo(f"已重新匹配 {report.rematched_projects} 个项目到新的镇街边界。")
        _print_moved(report.moved)


def _print_moved(moved: list[dict]) -> None:
    """Projects whose towns changed: each has a history entry and a new version (ETag)."""
    from registry.town_changes import describe
    if not moved:
        click.echo("没有项目的所属镇街发生变化。")
        return
    click.echo(f"所属镇街发生变化的项目：{len(moved)} 个（已写入项目历史，版本号已更新；失去项目的镇街会在首页看到提示）")
    for item in moved[:LISTED]:
        click.echo(f"  {item['code']} {item['name']}：{describe(item['before'])} → {describe(item['after'])}")
    if len(moved) > LISTED:
        click.echo(f"  ……另有 {len(moved) - LISTED} 个")


def _print_rows(title: str, rows: list[dict], describe) -> None:
    if not rows:
        click.echo(f"{title}：无")
        return
    total = sum(r["area_km2"] for r in rows)
    click.echo(f"{title}：{len(rows)} 处，共 {total:.4f} km²")
    for row in rows[:LISTED]:
        click.echo(f"  {describe(row)}")
    if len(rows) > LISTED:
        click.echo(f"  ……另有 {len(rows) - LISTED} 处")
