"""``eqreg``: the command line. One click group per concern, each in its own module.

Exit codes: 0 success, 1 rows rejected or failure, 2 usage error (click's default).
"""
from __future__ import annotations

import logging
import sys

import click

from registry.errors import RegistryError


class RegistryGroup(click.Group):
    """Turns registry errors into a one-line Chinese message and exit code 1, not a traceback."""

    def invoke(self, ctx):
        import psycopg
        from sqlalchemy.exc import OperationalError
        try:
            return super().invoke(ctx)
        except RegistryError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            sys.exit(1)
        except (OperationalError, psycopg.OperationalError) as exc:
            reason = getattr(exc, "orig", None) or exc
            click.echo(f"错误：无法访问数据库（{str(reason).strip().splitlines()[0]}）。"
                       "请检查 DATABASE_URL 与数据库服务是否在运行。", err=True)
            sys.exit(1)


@click.group(cls=RegistryGroup)
@click.option("-v", "--verbose", is_flag=True, help="详细日志")
def main(verbose: bool) -> None:
    """设备更新项目库 (equipment-renewal project registry)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from web.cli import basemap, boundaries, db, demo, progress, projects, serve, targets, users
    for module in (db, projects, boundaries, users, targets, progress, demo, serve, basemap):
        main.add_command(module.group)


_register()
