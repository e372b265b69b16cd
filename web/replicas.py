"""Read replicas: which server a request's session reads from (issue 14, docs/deploy.md).

``DATABASE_REPLICA_URLS`` (comma-separated libpq URLs of PostgreSQL streaming standbys) sends the
reads — GET and HEAD: map, lists, figures, exports, API GETs — to a replica, round robin; every
other method, sign-in and the server-side session (``web.database.account_session``) and the few
GET views that write (``web.database.on_primary``) use the primary.

Read-your-writes, by the primary's LSN checked at read time. Every response to a write request
(any method but GET/HEAD) sets a short-lived cookie (``STICKY_COOKIE``, ``DB_REPLICA_STICKY_SECONDS``,
default 60 s). While a client carries it, a read asks the primary for ``pg_current_wal_lsn()``
and the replica for ``pg_last_wal_replay_lsn()`` and reads from the replica only when it has
replayed that far, else from the primary. The client's writes were all acknowledged before it
sent this request, so they are at or below the primary's current LSN: reading the LSN now, not at
the write, also covers what is stored after the response is made (the session row written at
sign-in, ``web.sessions``) and writes through other workers. Two small round trips, paid only by
clients that wrote recently; everyone else reads a replica at once. The cookie's value means
nothing (forging it only sends one's own reads to the primary). Clients without cookies (API
scripts with a bare HTTP library) read a replica right after their write, at most replication
lag behind.

The change stamp (``registry.cache``) is read in the same transaction as the data, on the same
server: on a replica it lags together with the data, so cached figures stay consistent with it.

A replica that cannot be reached — refuses the connection, or the connection dies mid-read — is
skipped for ``DB_REPLICA_RETRY_SECONDS`` (default 30 s, a warning is logged) and that read runs
again on the primary (``web.database.retry_reads_once``).
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

log = logging.getLogger(__name__)

STICKY_COOKIE = "eqreg_wrote"
STICKY_SECONDS = 60
RETRY_SECONDS = 30.0
# A read-only transaction was asked to write (a GET view that writes, not marked on_primary), or
# a query was cancelled by replay (conflict with recovery): run it on the primary, the replica is fine.
_NOT_THE_REPLICAS_FAULT = ("25006", "40001")


def urls(config) -> list[str]:
    """The configured replica URLs (``DATABASE_REPLICA_URLS``: a list or a comma-separated string)."""
    value = config.get("DATABASE_REPLICA_URLS") or ""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


@dataclass(eq=False)
class Replica:
    url: str
    engine: Engine
    sessions: sessionmaker
    skipped_until: float = 0.0


@dataclass(eq=False)
class Replicas:
    members: list[Replica]
    primary: Engine
    sticky_seconds: int = STICKY_SECONDS
    retry_seconds: float = RETRY_SECONDS
    _turn: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def choose(self, *, wrote_recently: bool) -> Replica | None:
        """A replica for one read, or None (use the primary)."""
        now = time.monotonic()
        healthy = [replica for replica in self.members if replica.skipped_until <= now]
        if not healthy:
            return None
        with self._lock:
            start = next(self._turn)
        wanted = self._primary_lsn() if wrote_recently else None
        for offset in range(len(healthy)):
            replica = healthy[(start + offset) % len(healthy)]
            if wanted is None:
                return replica
            try:
                if self._replayed(replica, wanted):
                    return replica
            except DBAPIError as exc:
                self.skip(replica, exc)
        return None

    def _primary_lsn(self) -> str:
        with self.primary.connect() as connection:
            return connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar_one()

    @staticmethod
    def _replayed(replica: Replica, lsn: str) -> bool:
        """Has ``replica`` replayed the WAL up to ``lsn``? (one pooled connection at a time)"""
        with replica.engine.connect() as connection:
            return bool(connection.exec_driver_sql(
                "SELECT coalesce(pg_last_wal_replay_lsn() >= %(lsn)s::pg_lsn, false)", {"lsn": lsn}).scalar_one())

    def skip(self, replica: Replica, exc: BaseException) -> None:
        """Leave ``replica`` out for a while after it failed (unless the failure was the query's)."""
        if isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _NOT_THE_REPLICAS_FAULT:
            return
        replica.skipped_until = time.monotonic() + self.retry_seconds
        log.warning("read replica %s failed, reading from the primary for %.0f s: %s",
                    replica.engine.url.render_as_string(hide_password=True), self.retry_seconds,
                    getattr(exc, "orig", exc))

    def dispose(self) -> None:
        for replica in self.members:
            replica.engine.dispose()
