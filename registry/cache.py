"""A small process-local cache of aggregated figures, keyed by the registry's change stamp.

``registry_changes.stamp`` (migrations 0005, 0011) goes up with every committed transaction that
wrote to projects, project_towns, towns, progress_reports, districts or the plan targets, in the
same commit as the data: a reader
that sees the new data sees the new stamp, so a write is visible to the next read. A transaction
with uncommitted writes of its own never uses the cache (it would see data the stamp does not
describe). Keys carry the scope: limited scopes add their town codes; every unlimited role
(admin, bureau, planner, system) sees the same figures.
"""
from __future__ import annotations

import pickle
import threading
from collections import OrderedDict
from typing import Callable, Hashable, TypeVar

from sqlalchemy import event, text
from sqlalchemy.orm import Session

from registry.scope import Scope

T = TypeVar("T")
MAX_ENTRIES = 512
_INFO_KEY = "eqreg.change_stamp"
_BEGIN_KEY = "eqreg.change_stamp_at_begin"  # kept after a flush (what the transaction started from)
# epoch (random per database), stamp, and whether this transaction has unpublished writes.
STAMP_COLUMNS = ("c.epoch, c.stamp, EXISTS (SELECT 1 FROM registry_change_requests) AS dirty "
                 "FROM registry_changes c")
_STAMP_SQL = text("SELECT " + STAMP_COLUMNS)

_entries: OrderedDict[Hashable, bytes] = OrderedDict()  # pickled values
_lock = threading.Lock()


def remember_stamp(session: Session, row) -> None:
    """Keep a stamp row read at the start of the session's transaction (saves a round trip);
    ``None``: this transaction must not use the cache."""
    value = None if row is None else _key_of(row)
    session.info[_INFO_KEY] = (session.get_transaction(), value)
    session.info[_BEGIN_KEY] = value


def remembered_stamp(session: Session) -> tuple[int, int] | None:
    """The stamp the session's last transaction started from (None: unknown, or not to be
    cached), without starting a transaction; a flush since does not change it (the response cache
    keeps only GET answers, whose flushes touch accounts and audit, not the data)."""
    return session.info.get(_BEGIN_KEY)


def stamp(session: Session) -> tuple[int, int] | None:
    """``(epoch, stamp)`` as this transaction sees it, or None when it has writes of its own."""
    session.connection()  # begin now: the web session's begin hook reads the stamp with the scope
    known = session.info.get(_INFO_KEY)
    if known is not None and known[0] is session.get_transaction():
        return known[1]
    value = _key_of(session.execute(_STAMP_SQL).one())
    session.info[_INFO_KEY] = (session.get_transaction(), value)
    return value


def _key_of(row) -> tuple[int, int] | None:
    epoch, number, dirty = row
    return None if dirty else (epoch, number)


def scope_key(scope: Scope) -> tuple | None:
    """The part of a cache key that depends on who asks (None: sees everything)."""
    return None if scope.whole_registry else scope.cache_key


def cached(session: Session, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()`` once per (change stamp, key); callers get their own copy of the value."""
    current = stamp(session)
    if current is None:
        return compute()
    full_key = (current, key)
    with _lock:
        frozen = _entries.get(full_key)
        if frozen is not None:
            _entries.move_to_end(full_key)
    if frozen is not None:
        return pickle.loads(frozen)  # a fresh copy: callers may change what they get
    value = compute()
    frozen = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    with _lock:
        _entries[full_key] = frozen
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    """Forget everything (tests; never needed for correctness)."""
    with _lock:
        _entries.clear()


@event.listens_for(Session, "after_flush")
def _forget_after_flush(session, _context) -> None:
    # The transaction now has writes of its own: ask the database again next time.
    session.info.pop(_INFO_KEY, None)


@event.listens_for(Session, "do_orm_execute")
def _forget_after_write(state) -> None:
    if not state.is_select:
        state.session.info.pop(_INFO_KEY, None)
