"""Refused requests (403, 404), counted without flooding the audit trail (DESIGN §9).

Refusals are counted per (actor, route, status) per 10-minute window in ``refusal_counts``; the
first of each window is written to the audit trail (action ``refused``), so a town user probing
555 other projects' ids leaves one audit entry per route and window, and the table says how many
probes there were and the last path tried.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from registry import audit

WINDOW_SECONDS = 600

_COUNT = text(f"""
    INSERT INTO refusal_counts (actor, route, status, window_start, last_path)
    VALUES (:actor, :route, :status,
            to_timestamp(floor(extract(epoch FROM now()) / {WINDOW_SECONDS}) * {WINDOW_SECONDS}), :path)
    ON CONFLICT (actor, route, status, window_start) DO UPDATE
      SET count = refusal_counts.count + 1, last_at = now(), last_path = excluded.last_path
    RETURNING count, window_start""")


def record(session: Session, *, actor: str, route: str, status: int, path: str, role: str | None = None) -> int:
    """Count one refusal and commit; audit it when it is the first of its window. Returns the
    window's count so far."""
    count, window_start = session.execute(_COUNT, {"actor": actor, "route": route, "status": status,
                                                   "path": path[:500]}).one()
    if count == 1:
        audit.record(session, actor=actor, action="refused", entity="request", entity_id=route,
                     details={"status": status, "role": role, "path": path[:500],
                              "window_start": window_start.isoformat(), "window_seconds": WINDOW_SECONDS})
    session.commit()
    return count
