"""``eqreg projects import|export``: the commands live in project_import / project_export."""
from __future__ import annotations

import click

from web.cli import project_export, project_import

group = click.Group("projects", help="项目：导入表格、导出数据",
                    commands=[project_import.import_command, project_export.export])
