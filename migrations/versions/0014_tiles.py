"""tiles: PostGIS's bounding-box overlap ``&&`` declared LEAKPROOF, so map queries use the GiST index under RLS

Under row-level security PostgreSQL evaluates the policies' quals before any qual whose
function is not LEAKPROOF, and such a qual cannot become an index condition. PostGIS does not
mark ``geometry_overlaps`` (the ``&&`` behind every bounding-box filter) LEAKPROOF, so for the
web role the map's "projects in this box" (``map_features.sql``, ``map_tiles.sql``) read every
project: 70 ms a tile at 20k projects instead of 1 ms, seconds at 10^6.

``&&`` compares two stored bounding boxes and returns a boolean; it raises no error that depends
on a row's values, so it cannot leak a hidden row's data. Altering a function takes a superuser
(the embedded cluster's migrations run as one); without one the migration warns and the maps
stay correct, only slow on large registries. Downgrade restores PostGIS's default.

Revision ID: 0014_tiles
Revises: 0013_importspeed
"""
from alembic import op

revision = '0014_tiles'
down_revision = '0013_importspeed'
branch_labels = None
depends_on = None


def _set(leakproof: bool) -> None:
    flag = "LEAKPROOF" if leakproof else "NOT LEAKPROOF"
    op.execute(f"""
        DO $$
        BEGIN
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                ALTER FUNCTION geometry_overlaps(geometry, geometry) {flag};
            ELSE
                RAISE WARNING '不是超级用户，无法将 geometry_overlaps 设为 {flag}：大库地图在行级安全下不走空间索引';
            END IF;
        END $$""")


def upgrade() -> None:
    _set(True)


def downgrade() -> None:
    _set(False)
