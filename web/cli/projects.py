"""``eqreg projects import|export``: the commands live in project_import / project_export."""
from __future__ import annotations

import click

group = click.Group("projects", help="项目：导入表格、导出数据")

from web.cli import project_export  # noqa: E402,F401  (registers `export`)
from web.cli import project_import  # noqa: E402,F401  (registers `import`)
