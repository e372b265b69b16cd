"""The one exception ``geo`` raises for bad geometry input (an unknown CRS, an unreadable boundary).

``geo`` knows nothing of the registry's exception tree: ``registry`` turns a ``GeometryError``
into its ``InvalidInput`` where it calls ``geo`` (``registry.errors.geometry_input``).
"""
from __future__ import annotations


class GeometryError(ValueError):
    """Input geometry that cannot be used. ``message`` is plain Chinese for people;
    ``details`` is machine-readable (or ``None``)."""

    def __init__(self, message: str, details: dict | list | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
