"""Store the town shares of projects (``project_towns``, ``projects.primary_town_code``).

The rule itself — which towns a geometry lies in and with what share — is
``geo.matching.compute_shares``; this module says which geometries to match (stored projects,
or an import's staged rows) and writes the result.
"""
from __future__ import annotations

from typing import Sequence

from sqlalchemy.orm import Session

from geo.matching import compute_shares
from registry import sqlfiles


def match_projects(session: Session, *, project_ids: Sequence[int] | None = None,
                   district_code: str | None = None) -> int:
    """Recompute ``project_towns`` and ``projects.primary_town_code``.

    ``project_ids`` are the projects to match; ``None`` re-matches every project of
    ``district_code`` (after a boundary change), which is then required. Returns the number of
    projects matched. Runs in the caller's transaction; the caller commits.
    """
    if project_ids is None and district_code is None:
        raise ValueError("match_projects needs project_ids or district_code")
    params = {"project_ids": None if project_ids is None else list(project_ids),
              "district_code": district_code}
    count = compute_shares(session, sqlfiles.load("match_input_projects"), params)
    # Two statements: a DELETE and an INSERT of the same keys cannot share one snapshot.
    session.execute(sqlfiles.load("clear_project_towns"))
    session.execute(sqlfiles.load("store_project_towns"))
    return count


def match_staged(session: Session, *, district_code: str) -> None:
    """Compute the town shares of the import's staged rows (``import_staging``), before writing.

    Only the towns of ``district_code`` are candidates. Leaves the shares in the temp table
    ``match_shares`` keyed by spreadsheet row, for the upsert (primary town) and the import's
    project-towns step. Only rows that move a stored project are matched here
    (``import_before.geom_same``, so it runs after the audit-before step): the rows of new codes
    were matched and written chunk by chunk as they were staged (``geo.matching.add_shares``).
    Runs in the caller's transaction.
    """
    compute_shares(session, sqlfiles.load("match_input_staged"), {"district_code": district_code})
