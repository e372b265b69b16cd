"""The audit trail: one function every service calls when it changes something."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry.models import AuditEntry


def record(session: Session, *, actor: str, action: str, entity: str, entity_id: Any = None,
           district_code: str | None = None, before: dict | None = None, after: dict | None = None,
           details: dict | None = None) -> None:
    """Add an audit entry to the session's transaction (it commits with the change it records)."""
    session.add(AuditEntry(actor=actor, action=action, entity=entity,
                           entity_id=None if entity_id is None else str(entity_id),
                           district_code=district_code, before=before, after=after, details=details))
