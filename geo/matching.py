"""Match projects to towns and apportion them, set-based in PostGIS (DESIGN §3)."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy.orm import Session

from geo import sqlfiles


def match_projects(session: Session, *, project_ids: Sequence[int] | None = None,
                   district_code: str | None = None) -> None:
    """Recompute ``project_towns`` and ``projects.primary_town_code``.

    Parameters
    ----------
    project_ids
        The projects to match; ``None`` re-matches every project of ``district_code`` (after a
        boundary change).
    district_code
        Required when ``project_ids`` is ``None``.

    Shares come from EPSG:4326 geometry measured geodesically (``::geography``). Runs in the
    caller's transaction; the caller commits.
    """
    if project_ids is None and district_code is None:
        raise ValueError("match_projects needs project_ids or district_code")
    params = {"project_ids": None if project_ids is None else list(project_ids),
              "district_code": district_code}
    # Two statements: a DELETE and an INSERT of the same keys cannot share one snapshot.
    session.execute(sqlfiles.load("clear_project_towns"), params)
    session.execute(sqlfiles.load("match_towns"), params)


def preview_shares(session: Session, geometry, *, district_code: str | None = None) -> list[dict]:
    """The towns a geometry would be matched to, with shares, without writing anything.

    Parameters
    ----------
    geometry
        A shapely geometry in EPSG:4326 (WGS84).
    district_code
        Limit the candidate towns to one district (``None``: every current town).

    Returns ``[{"code", "name", "district_code", "share", "length_km", "area_km2"}]``, largest
    share first; the same rules as ``match_projects`` (shares sum to 1).
    """
    import shapely

    ewkb = shapely.to_wkb(shapely.set_srid(geometry, 4326), hex=True, include_srid=True)
    rows = session.execute(sqlfiles.load("preview_shares"), {"geom": ewkb, "district_code": district_code})
    return [dict(row._mapping) for row in rows]
