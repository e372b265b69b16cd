"""Alembic migrations (``versions/``): the schema's history, one revision per file."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def revision_module(filename: str) -> ModuleType:
    """An earlier revision's module, loaded from ``versions/`` by file name, for the SQL it
    defined: a downgrade puts a function back as that revision wrote it, a benchmark compares."""
    path = Path(__file__).with_name("versions") / filename
    spec = importlib.util.spec_from_file_location(f"eqreg_revision_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
