"""Per-town figures shared by every worker process, per change stamp (migration 0022).

``registry.cache`` keeps figures per process: at 10^6 projects a fresh worker spent seconds on
``registry.figures.town_figures`` before its first map page. ``town_figure_cache`` keeps one row per
town as one worker computed it, at the stamp it read; another worker with the same reach reads
those rows instead. The reach (``eqreg_figure_reach()``) is shared only by accounts that may edit
what the figures count (admin, bureau and planner: the whole registry's, or one per set of
districts); a town official's or viewer's is its own credential's, so no account reads figures
stored by one that could not change the projects behind them.

Reading goes through the request's own session (its snapshot, its row-level security): the rows are
used only when every town the computation would list has one at the stamp the session reads, so
the answer is the one computing would give. Writing goes through ``eqreg_store_town_figures`` on a
connection of its own to the primary (a request may read from a standby), with the request's
secret presented there too: the database stores only towns that secret may see, under its reach.
"""
from __future__ import annotations

import json
import logging

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from registry.scope import Scope, present_secret

log = logging.getLogger(__name__)

# The towns town_figures.sql lists (its ``town`` CTE), each with its stored row at the stamp.
_READ = text("""
SELECT t.code, f.figures::text AS figures
FROM towns t
LEFT JOIN town_figure_cache f
       ON f.town_code = t.code AND f.epoch = :epoch AND f.stamp = :stamp AND f.reach = eqreg_figure_reach()
WHERE t.valid_to IS NULL
  AND (CAST(:district_code AS text) IS NULL OR t.district_code = CAST(:district_code AS text))
  AND (CAST(:scope_towns AS text[]) IS NULL OR t.code = ANY(CAST(:scope_towns AS text[])))
  AND (CAST(:scope_districts AS text[]) IS NULL OR t.district_code = ANY(CAST(:scope_districts AS text[])))
ORDER BY t.code
""")
_SECRET = text("SELECT current_setting('eqreg.session', true)")
_STORE = text("SELECT eqreg_store_town_figures(:epoch, :stamp, CAST(:figures AS json))")


def read(session: Session, scope: Scope, district_code: str | None, stamp: tuple[int, int]) -> list[dict] | None:
    """The stored figures of every town the scope sees (of ``district_code``), ordered by code, as
    computed at ``stamp``; None when any of them is missing."""
    rows = session.execute(_READ, {**scope.sql_params(), "district_code": district_code,
                                   "epoch": stamp[0], "stamp": stamp[1]}).all()
    if any(figures is None for _, figures in rows):
        return None
    return [json.loads(figures) for _, figures in rows]


def store(session: Session, engine: Engine, stamp: tuple[int, int], figures: list[dict]) -> int:
    """Keep ``figures`` (computed in ``session`` at ``stamp``) for the other workers, through
    ``engine`` (the primary) with the secret ``session`` presented. Returns the rows added (0: the
    stamp has moved on, or the rows are there already); a failure is logged, never raised (the
    figures are still right, only not shared)."""
    if not figures:
        return 0
    try:
        payload = json.dumps(figures, ensure_ascii=False, allow_nan=False)
        secret = session.execute(_SECRET).scalar() or None
        with engine.connect() as connection:
            present_secret(connection, secret)
            added = connection.execute(_STORE, {"epoch": stamp[0], "stamp": stamp[1], "figures": payload}).scalar_one()
            connection.commit()
        return int(added)
    except Exception:  # noqa: BLE001 - sharing is an optimisation: say why it failed, go on
        log.exception("town_figure_cache: storing the per-town figures failed")
        return 0
