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
