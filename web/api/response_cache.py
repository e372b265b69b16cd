"""Whole JSON responses of the API's figure and list GETs, cached per change stamp and scope.

``@cached_json`` on a view keeps the bytes it rendered, with a strong ETag (a hash of those
bytes), under the key (path, query arguments sorted, the user's role, towns and districts, today's date,
database epoch, change stamp). A repeat of the same request by anyone with the same scope is
answered from memory: no ORM session, no transaction, no scope set-up, no JSON encoding; a client
that sends the ETag back in ``If-None-Match`` gets ``304 Not Modified`` without the body.

**How a hit knows the stamp: one round trip.** A committed write must be seen by the very next
read in any worker (``tests/test_cache.py``), so every request reads ``registry_changes`` (bumped in
the writing transaction's own commit, migrations 0005 and 0011): one ``SELECT epoch, stamp`` on a
pooled connection between transactions (no BEGIN/ROLLBACK, no ORM, no ``set_config``; see
``read_stamp``), ≈ 40 µs of CPU here, and concurrent requests of a worker share one read sent
after they came (``_SharedReads``). LISTEN/NOTIFY was not taken: a notification reaches other
workers some time after the commit, so a client that writes through one worker and at once reads
through another could be answered from before its own write.
When the stamp cannot be read (the connection died, the database is down) the view simply runs
uncached, and meets the outage the usual way (retry of reads, 503).

**Why an entry is never older than its key.** The stamp is read before the view's own
transaction begins, so the stored bytes are at least as new as their key; a stamp only grows, so
nobody who has seen a newer stamp is answered with an older entry. Concurrent misses of one key
render it once (``_render_once``).

**Who may see what.** Sign-in still runs before the view (``web.auth``): a revoked token or
session stops being served within its ≤ 5 s bound (DESIGN §9), cache or not. The key carries the
role, the towns of town officials and the districts of accounts limited to districts
(``Scope.cache_key``), so scopes never share an entry. Keys include today's
date because ``/targets`` and ``/stats`` default to today. Only 200 responses are kept; bad
input runs the view every time (and gets its 4xx).
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import threading
from collections import OrderedDict

import psycopg
from flask import Response, current_app, request
from psycopg import pq
from sqlalchemy.exc import SQLAlchemyError

from web import auth, database

log = logging.getLogger(__name__)

MAX_BYTES = 32 * 1024 * 1024  # per worker process; least recently used entries go first
MAX_ENTRIES = 4096
STAMP_SQL = b"SELECT epoch, stamp FROM registry_changes"
# Responses differ by user: no shared cache may keep them, and clients revalidate with the ETag.
CACHE_CONTROL = "private, no-cache"
VARY = "Authorization, Cookie"

_entries: OrderedDict[tuple, tuple[str, bytes]] = OrderedDict()  # key → (etag, body)
_size = 0
_lock = threading.Lock()
_running: dict[tuple, threading.Event] = {}  # keys being rendered now → set when done
LEADER_WAIT_SECONDS = 60  # then a waiter renders for itself


def cached_json(view):
    """Serve ``view``'s JSON from the cache when the registry has not changed since it was made."""
    @functools.wraps(view)
    def serve(*args, **kwargs):
        stamp = read_stamp()
        if stamp is None:
            return view(*args, **kwargs)
        scope = auth.current_scope()
        # sorted by name only (a stable sort): a repeated parameter's values keep their order, which
        # the views may read (the first wins)
        key = (request.path, tuple(sorted(request.args.items(multi=True), key=lambda item: item[0])),
               *scope.cache_key, dt.date.today(), stamp)  # role, towns and districts
        with _lock:
            entry = _entries.get(key)
            if entry is not None:
                _entries.move_to_end(key)
        if entry is None:
            entry = _render_once(key, functools.partial(view, *args, **kwargs))
            if isinstance(entry, Response):  # not kept: an error, or not JSON
                return entry
        return _answer(*entry)
    return serve


class _SharedReads:
    """Requests of one worker that want the stamp at the same time share one read of it.

    A read sent after a request arrived sees every commit made before the request arrived, and
    that is all the visibility rule asks. So a request that finds a read in flight (sent before
    it came, maybe before the write it must see) waits for it to end and then shares the *next*
    read, which one of the waiting requests sends for all of them. At most one read per worker is
    in flight; under load one round trip answers many requests, at the price of waiting for at
    most two round trips.
    """

    def __init__(self):
        self._changed = threading.Condition()
        self._sent = 0  # reads sent so far (numbered from 1)
        self._done = 0  # reads finished so far
        self._value: tuple[int, int] | None = None  # what the last finished read found

    def read(self, read_once) -> tuple[int, int] | None:
        with self._changed:
            wanted = self._sent + 1  # the first read that will be sent after now
            while self._done < wanted:
                if self._sent == self._done:  # nothing in flight: send it ourselves
                    self._sent += 1
                    break
                self._changed.wait()
            else:
                return self._value
        value = None
        try:
            value = read_once()
        finally:
            with self._changed:
                self._done, self._value = self._sent, value
                self._changed.notify_all()
        return value


_reads = _SharedReads()


def _render_once(key: tuple, view) -> tuple[str, bytes] | Response:
    """Run ``view`` and keep its answer; concurrent requests for the same key wait for the first
    (after a write, 48 threads computing the same 100 000-project figures at once would stall
    both cores for seconds). A waiter whose leader did not leave an entry runs the view itself."""
    with _lock:
        entry = _entries.get(key)
        running = _running.get(key)
        leader = entry is None and running is None
        if leader:
            running = _running[key] = threading.Event()
    if entry is not None:
        return entry
    if not leader:
        running.wait(LEADER_WAIT_SECONDS)
        with _lock:
            entry = _entries.get(key)
        return entry if entry is not None else _render(key, view)
    try:
        return _render(key, view)
    finally:
        with _lock:
            del _running[key]
        running.set()


def _render(key: tuple, view) -> tuple[str, bytes] | Response:
    response = current_app.make_response(view())
    # Kept only when the data is what the key says: read at the key's stamp (a replica may lag
    # behind the primary the stamp was read from), for the scope the key names (web.database).
    if (response.status_code != 200 or response.is_streamed or response.mimetype != "application/json"
            or database.scope_disagrees() or database.data_stamp() != key[-1]):
        return response
    return _store(key, response.get_data())


def read_stamp() -> tuple[int, int] | None:
    """``(epoch, stamp)`` as committed before this call, or None when the database could not be
    asked (concurrent callers share reads: ``_SharedReads``)."""
    return _reads.read(_read_stamp_once)


def _read_stamp_once() -> tuple[int, int] | None:
    """``(epoch, stamp)`` as committed now, or None when the database could not be asked.

    One simple-protocol statement straight through libpq (``PQexec``, the GIL released while it
    waits) on a pooled connection that is idle between transactions: outside a transaction
    PostgreSQL runs it in its own, so there is no BEGIN, no ROLLBACK and no psycopg cursor, and
    nothing is prepared server-side (safe behind PgBouncer's transaction pooling).
    """
    engine = current_app.extensions["eqreg.engine"]
    try:
        pooled = engine.raw_connection()
    except (SQLAlchemyError, psycopg.Error):
        return None
    try:
        pgconn = pooled.driver_connection.pgconn
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            return None  # never expected from the pool; do not read inside someone's transaction
        result = pgconn.exec_(STAMP_SQL)
        if result.status == pq.ExecStatus.TUPLES_OK and result.ntuples == 1:
            return int(result.get_value(0, 0)), int(result.get_value(0, 1))
        log.warning("change stamp not read, answering uncached: %s",
                    (result.error_message or pgconn.error_message).decode(errors="replace").strip())
        if pgconn.status != pq.ConnStatus.OK:
            pooled.invalidate()  # a broken connection must not go back to the pool
        return None
    except psycopg.Error as exc:
        log.warning("change stamp not read, answering uncached: %s", exc)
        pooled.invalidate()
        return None
    finally:
        pooled.close()


def _store(key: tuple, body: bytes) -> tuple[str, bytes]:
    global _size
    entry = ('"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"', body)
    with _lock:
        old = _entries.pop(key, None)
        if old is not None:
            _size -= len(old[1])
        _entries[key] = entry
        _size += len(body)
        while _entries and (_size > MAX_BYTES or len(_entries) > MAX_ENTRIES):
            _size -= len(_entries.popitem(last=False)[1][1])
    return entry


def _answer(etag: str, body: bytes) -> Response:
    headers = [("ETag", etag), ("Cache-Control", CACHE_CONTROL), ("Vary", VARY)]
    wanted = request.headers.get("If-None-Match")
    if wanted and (etag in wanted or wanted.strip() == "*"):
        return Response(status=304, headers=headers)
    return Response(body, headers=headers, content_type="application/json")


def clear() -> None:
    """Forget every response (tests; never needed for correctness)."""
    global _size
    with _lock:
        _entries.clear()
        _size = 0
