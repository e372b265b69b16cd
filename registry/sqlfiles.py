"""Load the registry's own ``.sql`` files (``registry/sql/``), the queries about projects.

A file may name the declared field lists as ``{{list|pattern}}`` (``registry.fields.fill``).
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.dialects.postgresql.base import PGDialect

from geo.sqlfiles import read
from registry import fields
from registry.models import Project

# Named binds (``:name``, as ``text()`` reads them) and no ``::TYPE`` casts after them.
_NAMED = PGDialect(paramstyle="named")
_HEAD = "SELECT projects.id \nFROM projects \nWHERE "


def source(name: str) -> str:
    """The text of ``registry/sql/<name>.sql``, for statements completed before use."""
    return fields.fill(read("registry", name))


@cache
def load(name: str) -> TextClause:
    """The statement in ``registry/sql/<name>.sql`` as a bound-parameter ``text()`` clause."""
    return text(source(name))


def with_condition(name: str, clauses: list) -> TextClause:
    """``registry/sql/<name>.sql`` with ``{condition}`` replaced by ``clauses`` (WHERE clauses on
    ``Project``, e.g. ``ProjectFilters.clauses()``), their parameters bound with their types.

    How a ``.sql`` file takes the same filters as the ORM queries instead of a filter language of
    its own. The file must name the table ``projects`` (no alias) where ``{condition}`` stands.
    The clauses are compiled inside ``SELECT … FROM projects`` so that their subqueries correlate.
    """
    compiled = select(Project.id).where(*clauses).compile(
        dialect=_NAMED, compile_kwargs={"render_postcompile": True})
    sql = str(compiled)
    if not sql.startswith(_HEAD):  # pragma: no cover - SQLAlchemy's own layout
        raise RuntimeError(f"unexpected compiled filter: {sql[:80]}")
    binds = [bindparam(key, compiled.params[key], type_=bind.type) for bind, key in compiled.bind_names.items()]
    return text(source(name).replace("{condition}", sql[len(_HEAD):])).bindparams(*binds)
