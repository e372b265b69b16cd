"""Load the ``.sql`` files that live beside the code that runs them."""
from __future__ import annotations

from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text


@cache
def read(package: str, name: str) -> str:
    """The text of ``<package>/sql/<name>.sql`` (``name`` may hold a sub-folder: ``import/01_x``)."""
    return resources.files(package).joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


@cache
def load(name: str) -> TextClause:
    """The statement in ``geo/sql/<name>.sql`` as a bound-parameter ``text()`` clause."""
    return text(read("geo", name))
