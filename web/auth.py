"""Sign-in and the current user's scope. (Placeholder until the accounts work lands: it grants the
whole registry to everyone; the accounts helper replaces this module.)"""
from __future__ import annotations

from registry.scope import Scope


def current_scope() -> Scope:
    """The scope of the user making the current request."""
    return Scope(actor="anonymous", role="planner")
