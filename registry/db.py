"""Database URL resolution, engines and sessions.

``DATABASE_URL`` is in libpq form (``postgresql://user@host:5432/db``); when it is unset the
embedded cluster under ``./var/`` is used (started on demand).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from registry import embedded

if TYPE_CHECKING:  # SQLAlchemy is imported when an engine is made: lean CLI paths never load it
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session


def database_url(*, start_embedded: bool = True) -> str:
    """The libpq URL to use: ``DATABASE_URL`` or the embedded default (started if needed)."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return configured
    return embedded.start() if start_embedded else embedded.url()


def sqlalchemy_url(libpq_url: str) -> str:
    """Turn ``postgresql://…`` into the SQLAlchemy form that selects psycopg 3."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if libpq_url.startswith(prefix):
            return "postgresql+psycopg://" + libpq_url[len(prefix):]
    raise ValueError(f"DATABASE_URL 必须以 postgresql:// 开头：{libpq_url!r}")


def make_engine(libpq_url: str | None = None, **kwargs) -> Engine:
    from sqlalchemy import create_engine
    return create_engine(sqlalchemy_url(libpq_url or database_url()), **kwargs)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session for one unit of work; services commit, this closes (rolling back leftovers).

    Without ``engine`` it makes one for ``database_url()`` and disposes of it afterwards (CLI
    commands: one unit of work per process).
    """
    from sqlalchemy.orm import sessionmaker
    own = engine is None
    engine = make_engine() if own else engine
    try:
        with sessionmaker(engine, expire_on_commit=False)() as session:
            yield session
    finally:
        if own:
            engine.dispose()


def text_array(items: list[str]) -> str:
    """A PostgreSQL text[] literal; every element quoted, so commas, braces and NULL stay text.

    For many or long lists: psycopg's list dumper costs ~2–4 µs an element (an import's COPY and
    its look-ups by code); bind it as text and ``CAST(… AS text[])``."""
    if not items:
        return "{}"
    joined = '","'.join(items)
    if "\\" not in joined and joined.count('"') == 2 * (len(items) - 1):  # nothing to escape
        return '{"' + joined + '"}'
    return "{" + ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for item in items) + "}"
