"""The registry's exception tree; ``web`` maps each class to one HTTP status."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from geo.errors import GeometryError


class RegistryError(Exception):
    """Base class. ``message`` is plain Chinese for people; ``details`` is machine-readable."""

    code = "error"

    def __init__(self, message: str, details: dict | list | None = None):
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(RegistryError):
    code = "invalid_input"


class Unauthenticated(RegistryError):
    """No signed-in user (no session, or no valid bearer token)."""
    code = "unauthorized"


class NotFound(RegistryError):
    code = "not_found"


class Forbidden(RegistryError):
    code = "forbidden"


class Conflict(RegistryError):
    code = "conflict"


class StaleVersion(Conflict):
    code = "stale_version"


class ImportRejected(RegistryError):
    """A strict import with errors, or a file that cannot be read at all."""
    code = "import_rejected"


@contextmanager
def geometry_input() -> Iterator[None]:
    """Run ``geo`` code on user input: its ``GeometryError`` becomes ``InvalidInput`` (same message
    and details), so callers above the registry see one exception tree."""
    try:
        yield
    except GeometryError as exc:
        raise InvalidInput(exc.message, exc.details) from exc
