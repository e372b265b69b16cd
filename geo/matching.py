"""Match geometries to towns and apportion them, set-based in PostGIS (DESIGN §3).

One rule, one statement (``geo/sql/compute_shares.sql``): every caller puts the geometries to
match into the temp table ``match_input`` (``key``, ``district_code``, ``geom``) and reads the
shares from ``match_shares``. Both are per connection, emptied before each use and at every
commit (``ON COMMIT DELETE ROWS``). What the keys mean (project ids, spreadsheet rows) is the
caller's business: ``registry.matching`` stores the shares of projects.
"""
from __future__ import annotations

from psycopg import sql as psycopg_sql
from sqlalchemy import Executable, text
from sqlalchemy.orm import Session

from geo import sqlfiles

# Created once per connection and emptied at every commit (ON COMMIT DELETE ROWS): creating and
# dropping them in every transaction took ~6 ms, several times the edit form's preview query.
_TEMP_TABLES = (
    "CREATE TEMP TABLE IF NOT EXISTS match_input ("
    " key bigint NOT NULL, district_code text, geom geometry NOT NULL) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS match_shares ("
    " key bigint NOT NULL, town_id integer NOT NULL, town_code text NOT NULL,"
    " district_code text NOT NULL, share float8 NOT NULL, length_km float8, area_km2 float8,"
    " is_primary boolean NOT NULL) ON COMMIT DELETE ROWS;"
    # the shares of one key, whichever way a caller's join is planned (the import's joins by row)
    "CREATE INDEX IF NOT EXISTS match_shares_key ON match_shares (key);"
    # rows of an earlier call in the same transaction
    "DELETE FROM match_input; DELETE FROM match_shares"
)
# above this many inputs the planner gets real statistics (a fresh temp table has none)
_ANALYZE_FROM = 1000


def compute_shares(session: Session, fill: Executable, params: dict) -> int:
    """Empty the temp tables, run ``fill`` and compute the town shares into ``match_shares``.

    Parameters
    ----------
    fill
        An ``INSERT INTO match_input (key, district_code, geom)``; geometry in EPSG:4326. A NULL
        ``district_code`` makes every current town a candidate.
    params
        The bound parameters of ``fill``.

    Returns
    -------
    int
        The number of input geometries.

    Shares are measured geodesically (``::geography``) and sum to 1 per key. Runs in the
    caller's transaction.
    """
    # one round trip (no parameters, so several statements may go together)
    session.connection().exec_driver_sql(_TEMP_TABLES)
    count = session.execute(fill, params).rowcount
    if count >= _ANALYZE_FROM:
        session.execute(text("ANALYZE match_input"))
    session.execute(sqlfiles.load("compute_shares"))
    return count


def add_shares(connection, fill: psycopg_sql.Composable) -> None:
    """Compute the shares of one piece of a large input into ``match_shares``, in one round trip.

    Parameters
    ----------
    connection
        A bare psycopg connection (the import stages and matches its rows on a worker thread,
        which must not share the caller's SQLAlchemy session).
    fill
        An ``INSERT INTO match_input`` choosing the piece's geometries (EPSG:4326), its values
        composed in (``psycopg.sql.Literal``): with no parameters every statement goes in one
        round trip, so the worker waits for the server (and then for the GIL) once per piece.

    Each piece is matched by the one rule (``compute_shares.sql``) over a fresh ``match_input``;
    ``match_shares`` then holds the piece's shares until the next piece (the caller writes them).
    """
    connection.execute(psycopg_sql.SQL(";\n").join([
        psycopg_sql.SQL(_TEMP_TABLES), fill, psycopg_sql.SQL(sqlfiles.read("geo", "compute_shares"))]))


def preview_shares(session: Session, geometry, *, district_code: str | None = None) -> list[dict]:
    """The towns a geometry would be matched to, with shares, without writing anything.

    Parameters
    ----------
    geometry
        A shapely geometry in EPSG:4326 (WGS84).
    district_code
        Limit the candidate towns to one district (``None``: every current town).

    Returns ``[{"code", "name", "district_code", "share", "length_km", "area_km2"}]``, largest
    share first; the same rule as every stored share (shares sum to 1).
    """
    import shapely

    ewkb = shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)
    compute_shares(session, text(
        "INSERT INTO match_input (key, district_code, geom) "
        "VALUES (0, :district_code, ST_SetSRID(ST_GeomFromEWKB(decode(:geom, 'hex')), 4326))"),
        {"geom": ewkb, "district_code": district_code})
    rows = session.execute(sqlfiles.load("preview_shares"))
    return [dict(row._mapping) for row in rows]
