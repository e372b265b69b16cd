"""Vector tiles of the projects for the district and town maps (Mapbox Vector Tile, Web Mercator).

At 10^5–10^6 projects the map cannot ask for "the projects in view" as GeoJSON: a district view
would aggregate every project on each pan. Tiles are fixed z/x/y squares, so each one is built
once per change of the registry (``registry.cache``'s change stamp) and the browser revalidates it
with an ETag. The tile holds what ``registry.map_view`` sends for a view, decided per tile: the
projects themselves, or PostGIS's grid clusters with per-stage counts (``registry/sql/map_tiles.sql``).
"""
from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from registry import cache, sqlfiles
from registry.errors import InvalidInput
from registry.filters import ProjectFilters, domain_codes
from registry.scope import Scope

log = logging.getLogger(__name__)
MAX_ZOOM = 22
FULL_ZOOM = 16  # from this zoom on, always the projects (at most FEATURE_LIMIT per tile)
MAX_FEATURES = 300  # default: more projects in a tile below FULL_ZOOM, the grid clusters instead
FEATURE_LIMIT = 5000
CELL_PIXELS = 64  # cluster grid cell on screen, as registry.map_view
GRID_MAX_ZOOM = 14  # up to this zoom the clusters come from map_cells (deeper tiles hold few projects)
COUNT_WHILE_WAITING_BELOW = 100_000  # projects (estimate): a tile waits for the grid; above, it is counted in the background
CACHE_BYTES = 64 * 2 ** 20  # per process; a busy district tile is tens of kB
VERSION = "1"  # part of every ETag: bump when the tile's content changes for the same data


@dataclass(frozen=True)
class TileRequest:
    """One tile of one filtered view: ``z/x/y`` checked, filters normalised to codes."""
    z: int
    x: int
    y: int
    domains: tuple[str, ...] | None = None  # None: every domain
    stage: str | None = None
    town: str | None = None
    max_features: int = MAX_FEATURES  # more in the tile (below FULL_ZOOM): the grid clusters

    @classmethod
    def parse(cls, z: int, x: int, y: int, args, *, max_features: int | None = None) -> "TileRequest":
        """From the route's numbers and query args (``domains``, ``stage``, ``town``); bad values
        raise InvalidInput (a tile outside the world at ``z`` too). ``max_features``: the app's
        ``MAP_TILE_MAX_FEATURES`` (default ``MAX_FEATURES``)."""
        if not 0 <= z <= MAX_ZOOM:
            raise InvalidInput(f"缩放级别应为 0–{MAX_ZOOM}：{z}", {"parameter": "z", "value": z})
        if not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
            raise InvalidInput(f"瓦片 {z}/{x}/{y} 超出范围：x、y 应为 0–{2 ** z - 1}",
                               {"parameter": "x/y", "value": f"{z}/{x}/{y}"})
        filters = ProjectFilters.parse({"stage": args.get("stage"), "town": args.get("town")})
        domains = domain_codes(args.get("domains"))
        return cls(z, x, y, None if domains is None else tuple(sorted(set(domains))), filters.stage, filters.town,
                   MAX_FEATURES if max_features is None else int(max_features))


def tiles_pay_off(session: Session, threshold: int) -> bool:
    """Whether the maps should draw tiles: the registry holds at least ``threshold`` projects by
    the planner's estimate (free, unlike a count of 10^6 rows; a new table counts as empty)."""
    if threshold <= 0:
        return True
    estimate = session.execute(text("SELECT reltuples FROM pg_class WHERE oid = 'projects'::regclass")).scalar()
    return (estimate or 0) >= threshold


def tile_etag(session: Session, scope: Scope, request: TileRequest) -> str | None:
    """A strong validator for the tile as this scope would get it now, without building it: the
    change stamp, who asks, the filters and the coordinates. None inside a transaction with
    writes of its own (its data is not what the stamp describes)."""
    stamp = cache.stamp(session)
    if stamp is None:
        return None
    key = repr((VERSION, FULL_ZOOM, stamp, cache.scope_key(scope), request))
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def project_tile(session: Session, scope: Scope, request: TileRequest, *, use_cache: bool = True,
                 counter: Engine | None = None) -> bytes:
    """The MVT bytes of one tile (layers ``projects`` and ``clusters``; see map_tiles.sql);
    empty bytes when nothing is there. Kept per process by ETag when ``use_cache``.
    ``counter``: where the cluster grid is counted when it is stale — the primary, on a
    connection of its own (default: the session's engine)."""
    etag = tile_etag(session, scope, request) if use_cache else None
    if etag is not None:
        hit = _tiles.get(etag)
        if hit is not None:
            return hit
    data = _build(session, scope, request, counter)
    if etag is not None:
        _tiles.put(etag, data)
    return data


def tile_params(scope: Scope, request: TileRequest, grid_stamp: tuple[int, int] | None = None) -> dict:
    """The bound parameters of map_tiles.sql for one tile (also used by bench/map_tiles.py);
    ``grid_stamp``: count the clusters from ``map_cells`` if it was counted at that stamp."""
    return {**scope.sql_params(), "z": request.z, "x": request.x, "y": request.y,
            "domains": None if request.domains is None else list(request.domains),
            "stage": request.stage, "town": request.town, "max_features": request.max_features,
            "feature_limit": FEATURE_LIMIT, "full_zoom": FULL_ZOOM, "cell_pixels": CELL_PIXELS,
            "use_grid": grid_stamp is not None, "epoch": grid_stamp and grid_stamp[0],
            "stamp": grid_stamp and grid_stamp[1]}


def _build(session: Session, scope: Scope, request: TileRequest, counter: Engine | None) -> bytes:
    if request.domains == ():
        return b""
    grid_stamp = current_grid(session, counter) if request.z <= GRID_MAX_ZOOM else None
    # As for the features endpoint: an interactive query, JIT costs more than it saves; reading the
    # grid, parallel workers cost more to start (tens of ms on a busy machine) than the work they share.
    session.execute(text("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"
                         + ("; SET LOCAL max_parallel_workers_per_gather = 0" if grid_stamp is not None else "")))
    return bytes(session.execute(sqlfiles.load("map_tiles"), tile_params(scope, request, grid_stamp)).scalar_one())


def current_grid(session: Session, counter: Engine | None = None) -> tuple[int, int] | None:
    """The change stamp this transaction reads, when the cluster grid ``map_cells`` (migration
    0016) has been counted at it; else None, and the grid is counted again in the background
    while the tiles count their clusters themselves (as before the grid: slower, same answer);
    a small registry's grid is counted at once.
    None too inside a transaction with writes of its own. The tile's query checks the grid's
    stamp again in its own snapshot. ``counter`` counts it (a standby cannot: the web app passes
    the primary, unpooled, so a request never waits on a second connection of its own pool)."""
    current = cache.stamp(session)
    if current is None:
        return None
    if _grid_seen.get("stamp") == current:
        return current
    counted = session.execute(text("SELECT epoch, stamp FROM map_cell_state WHERE max_zoom = :z AND cell_pixels = :c"),
                              {"z": GRID_MAX_ZOOM, "c": CELL_PIXELS}).one_or_none()
    if counted is not None and tuple(counted) == current:
        _grid_seen["stamp"] = current
        return current
    bind = session.get_bind()
    engine = counter or getattr(bind, "engine", bind)
    if not tiles_pay_off(session, COUNT_WHILE_WAITING_BELOW):  # small: counted in milliseconds
        return current if count_grid(engine) else None
    _count_in_background(engine)
    return None


def count_grid(engine: Engine) -> bool:
    """Count ``map_cells`` at the registry's current stamp in a transaction of its own (as the
    table's owner, ``eqreg_refresh_map_cells``): only the cells of the projects changed since the
    last count (migration 0024), or whole — seconds at 10^6 projects — after an import. REPEATABLE
    READ: the changes are counted over several statements of one snapshot (in READ COMMITTED the
    function counts whole). False when another transaction is counting it, or has counted it since
    this one began, or on a standby (the primary's grid arrives by replication)."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        done = connection.execute(text("SELECT eqreg_refresh_map_cells(:z, :c)"),
                                  {"z": GRID_MAX_ZOOM, "c": CELL_PIXELS}).scalar_one()
        connection.commit()
    return bool(done)


def _count_in_background(engine: Engine) -> None:
    if not _counting.acquire(blocking=False):
        return  # this process is counting already

    def run() -> None:
        try:
            count_grid(engine)
        except Exception:  # noqa: BLE001 - the tiles still count for themselves; say why
            log.exception("map_cells: counting the cluster grid failed")
        finally:
            _counting.release()

    threading.Thread(target=run, name="eqreg-map-cells", daemon=True).start()


_grid_seen: dict[str, tuple[int, int]] = {}  # the last stamp this process found the grid counted at
_counting = threading.Lock()  # held while this process counts the grid


class _ByteCache:
    """Least recently used tiles up to a total size (tiles differ a lot in size)."""

    def __init__(self, limit: int):
        self.limit, self.size = limit, 0
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: bytes) -> None:
        if len(value) > self.limit // 8:
            return
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = value
            self.size += len(value)
            while self.size > self.limit:
                _, dropped = self._entries.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.size = 0


_tiles = _ByteCache(CACHE_BYTES)


def clear_cache() -> None:
    """Forget the tiles kept by this process (tests; never needed for correctness)."""
    _tiles.clear()
    _grid_seen.clear()
