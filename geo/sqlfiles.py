"""Load the ``.sql`` files that live beside the code that runs them."""
from __future__ import annotations

from functools import cache
from importlib import resources

from sqlalchemy import TextClause, text


@cache
def load(name: str) -> TextClause:
    """The statement in ``geo/sql/<name>.sql`` as a bound-parameter ``text()`` clause."""
    return text(resources.files("geo").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8"))
