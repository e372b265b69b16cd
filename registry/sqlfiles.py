"""Load the registry's own ``.sql`` files (``registry/sql/``), the queries about projects.

A file may name the declared field lists as ``{{list|pattern}}`` (``registry.fields.fill``).
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text

from geo.sqlfiles import read
from registry import fields


def source(name: str) -> str:
    """The text of ``registry/sql/<name>.sql``, for statements completed before use."""
    return fields.fill(read("registry", name))


@cache
def load(name: str) -> TextClause:
    """The statement in ``registry/sql/<name>.sql`` as a bound-parameter ``text()`` clause."""
    return text(source(name))
