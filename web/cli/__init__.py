"""``eqreg``: the command line. One click group per concern, each in its own module.

Exit codes: 0 success, 1 rows rejected or failure, 2 usage error (click's default).
"""
from __future__ import annotations

import importlib
import logging
import sys

import click

from registry.errors import RegistryError


# command → module of web.cli holding its ``group``; imported only when the command runs, so
# ``eqreg projects export`` does not load what ``eqreg boundaries`` or ``eqreg serve`` need.
COMMANDS = {"basemap": "basemap", "boundaries": "boundaries", "db": "db", "demo": "demo", "progress": "progress",
            "projects": "projects", "serve": "serve", "targets": "targets", "users": "users"}


class RegistryGroup(click.Group):
    """Loads each command's module on first use; turns registry errors into a one-line Chinese
    message and exit code 1, not a traceback."""

    def list_commands(self, ctx):
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx, name):
        if name not in self.commands and name in COMMANDS:
            self.add_command(importlib.import_module(f"web.cli.{COMMANDS[name]}").group, name)
        return self.commands.get(name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RegistryError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            sys.exit(1)
        except Exception as exc:
            if not _database_unreachable(exc):
                raise
            reason = getattr(exc, "orig", None) or exc
            click.echo(f"错误：无法访问数据库（{str(reason).strip().splitlines()[0]}）。"
                       "请检查 DATABASE_URL 与数据库服务是否在运行。", err=True)
            sys.exit(1)


def _database_unreachable(exc: Exception) -> bool:
    # imported here: the CLI starts without SQLAlchemy (registry/db.py loads it when needed)
    import psycopg
    from sqlalchemy.exc import OperationalError
    return isinstance(exc, (OperationalError, psycopg.OperationalError))


@click.group(cls=RegistryGroup)
@click.option("-v", "--verbose", is_flag=True, help="详细日志")
def main(verbose: bool) -> None:
    """设备更新项目库 (equipment-renewal project registry)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

