"""The audit trail: one function every service calls when it changes something."""
from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from registry.models import AuditEntry


def record(session: Session, *, actor: str, action: str, entity: str, entity_id: Any = None,
           district_code: str | None = None, before: dict | None = None, after: dict | None = None,
           details: dict | None = None) -> None:
    """Add an audit entry to the session's transaction (it commits with the change it records).

    A plain INSERT without RETURNING: under row-level security the app role may append entries
    it is not allowed to read back (a town user's refusal on another town's project).
    """
    session.execute(insert(AuditEntry.__table__).inline().values(
        actor=actor, action=action, entity=entity, entity_id=None if entity_id is None else str(entity_id),
        district_code=district_code, before=before, after=after, details=details))


def record_many(session: Session, entries: list[dict]) -> None:
    """Several entries (each with ``record``'s keyword arguments) in one batched INSERT."""
    if entries:
        session.execute(insert(AuditEntry.__table__).inline(), [
            {"before": None, "after": None, "details": None, "district_code": None, **entry,
             "entity_id": None if entry.get("entity_id") is None else str(entry["entity_id"])}
            for entry in entries])
