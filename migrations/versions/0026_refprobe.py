"""refprobe: a town share's project is looked up by its key, whatever the statistics say (issue 13)

0025's statement check of ``project_towns.project_id`` looked for a missing project with
``NOT EXISTS (SELECT 1 FROM projects …)``, which the planner turns into an anti-join. When the
statistics of ``projects`` say it is empty — a vacuum after imports that were killed, failed or
dry runs leaves ``reltuples = 0`` on a table of many pages — while the writing transaction holds
many new projects (an import inserts each chunk's new codes before their shares), the planner
materialised every project and scanned that list once per share: quadratic, a 100 000-row import
took minutes instead of seconds. The look-up is now a correlated subquery behind ``OFFSET 0``
(not made a join), one index probe of ``pk_projects`` per share; under REPEATABLE READ the
projects are locked by ``id = ANY(array)``, an index scan, instead of a semi-join of the same kind.
The refusals are unchanged.

Revision ID: 0026_refprobe
Revises: 0025_importlean
"""
from alembic import op

from migrations import revision_module

revision = '0026_refprobe'
down_revision = '0025_importlean'
branch_labels = None
depends_on = None

_0025 = revision_module("0025_importlean.py")
_PROBES = (
    ("WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = n.project_id) LIMIT 1;",
     "WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = n.project_id OFFSET 0) LIMIT 1;"),
    ("PERFORM 1 FROM projects p WHERE p.id IN (SELECT n.project_id FROM new_rows n) FOR KEY SHARE;",
     "PERFORM 1 FROM projects p WHERE p.id = ANY(ARRAY(SELECT n.project_id FROM new_rows n)) FOR KEY SHARE;"),
)


def check_shares() -> str:
    """0025's ``eqreg_check_project_town_refs`` with its project look-ups made key probes."""
    body = _0025.CHECK_SHARES
    for old, new in _PROBES:
        if old not in body:  # pragma: no cover - 0025 is fixed
            raise RuntimeError(f"0025's check changed: {old}")
        body = body.replace(old, new)
    return body


def upgrade() -> None:
    op.execute(check_shares())


def downgrade() -> None:
    op.execute(_0025.CHECK_SHARES)
