"""``eqreg basemap load FILE.mbtiles [--replace]`` and ``eqreg basemap show``: the offline basemap."""
from __future__ import annotations

import getpass
from pathlib import Path

import click

from registry import audit
from registry import basemap as basemaps
from registry import db as registry_db

group = click.Group("basemap", help="底图：加载本单位的离线栅格底图（MBTiles），由本系统自己提供瓦片")


@group.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="替换已加载的底图")
def load(path: Path, replace: bool) -> None:
    """Check FILE.mbtiles (raster: PNG/JPEG/WebP) and keep a copy under var/ for the maps."""
    before = basemaps.current_basemap()
    loaded = basemaps.install_basemap(path, replace=replace)
    with registry_db.session_scope() as session:
        audit.record(session, actor=f"cli:{getpass.getuser()}", action="basemap_load", entity="basemap",
                     entity_id=basemaps.FILE_NAME, before=before.as_dict() if before else None,
                     after=loaded.as_dict(), details={"source": str(path.resolve())})
        session.commit()
    click.echo(f"已加载底图“{loaded.name}”：{loaded.tiles} 个瓦片，缩放级别 {loaded.min_zoom}–{loaded.max_zoom}，"
               f"格式 {loaded.format.upper()}。地图默认使用它（/tiles/…，无需联网）。")


@group.command()
def show() -> None:
    """Describe the loaded basemap."""
    current = basemaps.current_basemap()
    if current is None:
        click.echo("尚未加载离线底图（eqreg basemap load FILE.mbtiles）。")
        return
    click.echo(f"底图“{current.name}”：{current.tiles} 个瓦片，缩放级别 {current.min_zoom}–{current.max_zoom}，"
               f"格式 {current.format.upper()}，范围 {current.bounds or '未注明'}；文件 {basemaps.basemap_path()}")
