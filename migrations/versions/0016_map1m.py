"""map cells: the map's cluster grid counted once per change stamp (issue 13 item 4)

At 10^6 projects a cluster tile of the district view aggregated ~80 000 projects scattered over
the heap (1–4 s a tile). ``map_cells`` holds the same grid already counted: per zoom below the
full zoom, per 64-pixel cell (Web Mercator screen pixels at that zoom, each project counted in
the cell of its bounding box's centre), per stage, domain, district and set of towns, the number
of projects and the sums of their centres' pixel coordinates. A tile's clusters are then a few
dozen rows (``registry/sql/map_tiles.sql``). Grouping by the project's whole set of towns keeps
each project in one row, so the town filter and the scope (any share in the towns) count a
project once, as the live query does.

``eqreg_refresh_map_cells(max_zoom, cell_pixels)`` (owner's rights; the app calls it in the
background when the grid's stamp in ``map_cell_state`` is not the registry's) counts it again, the
deepest zoom in one statement's snapshot, so the grid and its stamp describe the same data; it
returns false without waiting when another transaction is counting, and on a standby. Row-level security
on ``map_cells`` repeats the projects' rule on the grouped columns (district, towns).

Revision ID: 0016_map1m
Revises: 0015_districts
"""
from alembic import op
import sqlalchemy as sa

revision = '0016_map1m'
down_revision = '0015_districts'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

TABLES = """
CREATE TABLE map_cells (
    z smallint NOT NULL,
    cx integer NOT NULL,
    cy integer NOT NULL,
    stage text NOT NULL,
    domain_code text NOT NULL,
    district_code text,
    towns text[] NOT NULL,
    n integer NOT NULL,
    sx double precision NOT NULL,
    sy double precision NOT NULL
);
CREATE INDEX ix_map_cells_z_cx_cy ON map_cells (z, cx, cy);
CREATE TABLE map_cell_state (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    epoch bigint NOT NULL,
    stamp bigint NOT NULL,
    max_zoom integer NOT NULL,
    cell_pixels integer NOT NULL
);
"""

FUNCTION = r"""
CREATE FUNCTION eqreg_refresh_map_cells(max_zoom integer, cell_pixels integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '128MB' AS $fn$
DECLARE
  zoom integer;
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN false;  -- a standby: the primary's grid arrives by replication
  END IF;
  IF NOT pg_try_advisory_xact_lock(hashtext('eqreg_refresh_map_cells')) THEN
    RETURN false;  -- another transaction is counting it: don't wait (the tiles count for themselves)
  END IF;
  IF EXISTS (SELECT 1 FROM map_cell_state s, registry_changes c
             WHERE s.epoch = c.epoch AND s.stamp = c.stamp
               AND s.max_zoom = $1 AND s.cell_pixels = $2) THEN
    RETURN true;  -- already current
  END IF;
  DELETE FROM map_cells;  -- not TRUNCATE: readers keep their snapshot and take no conflicting lock
  -- One statement: the projects and the stamp written to map_cell_state come from one snapshot.
  WITH changes AS (SELECT epoch, stamp FROM registry_changes),
  towns AS (SELECT project_id, array_agg(town_code::text) AS codes  -- any order: each project is still in one row
            FROM project_towns GROUP BY project_id),
  centres AS (  -- as map_tiles.sql: screen pixels of the bounding box's centre at max_zoom
    SELECT p.stage, p.domain_code, p.district_code, coalesce(t.codes, '{}') AS towns,
           (c.lng + 180) / 360 * w.world AS px,
           (1 - ln(tan(radians(c.lat)) + 1 / cos(radians(c.lat))) / pi()) / 2 * w.world AS py
    FROM projects p
    LEFT JOIN towns t ON t.project_id = p.id
    CROSS JOIN LATERAL (SELECT p.geom::box2d AS b) box
    CROSS JOIN LATERAL (SELECT (ST_XMin(box.b) + ST_XMax(box.b)) / 2 AS lng,
                               (ST_YMin(box.b) + ST_YMax(box.b)) / 2 AS lat) c
    CROSS JOIN (SELECT 256.0 * 2 ^ $1 AS world) w
    WHERE p.deleted_at IS NULL AND p.geom IS NOT NULL
  ),
  counted AS (
    INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy)
    SELECT $1, floor(px / $2), floor(py / $2), stage, domain_code, district_code, towns, count(*), sum(px), sum(py)
    FROM centres
    GROUP BY 2, 3, 4, 5, 6, 7
  )
  INSERT INTO map_cell_state AS s (epoch, stamp, max_zoom, cell_pixels)
  SELECT epoch, stamp, $1, $2 FROM changes
  ON CONFLICT (one) DO UPDATE SET epoch = excluded.epoch, stamp = excluded.stamp,
                                  max_zoom = excluded.max_zoom, cell_pixels = excluded.cell_pixels;
  -- A cell at zoom z is two by two cells at z + 1 (floor(floor(p / c) / 2) = floor(p / 2 / c)),
  -- and pixel coordinates halve exactly: each zoom is counted from the one above.
  FOR zoom IN REVERSE $1 - 1 .. 0 LOOP
    INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy)
    SELECT zoom, cx / 2, cy / 2, stage, domain_code, district_code, towns,  -- cx / 2: floor (cx >= 0)
           sum(n), sum(sx) / 2, sum(sy) / 2
    FROM map_cells WHERE z = zoom + 1
    GROUP BY 2, 3, 4, 5, 6, 7;
  END LOOP;
  RETURN true;
END
$fn$;
"""

POLICY_USING = ("(SELECT eqreg_sees_every_row()) OR district_code = ANY ((SELECT eqreg_visible_districts())::text[]) "
                "OR towns && (SELECT eqreg_visible_towns())::text[]")


def upgrade() -> None:
    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    op.execute(TABLES)
    op.execute(FUNCTION)
    op.execute("REVOKE ALL ON FUNCTION eqreg_refresh_map_cells(integer, integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION eqreg_refresh_map_cells(integer, integer) TO {APP_ROLE}")
    for table in ("map_cells", "map_cell_state"):
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY {table}_owner_all ON {table} TO {owner} USING (true) WITH CHECK (true)")
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
        op.execute(f"GRANT SELECT ON {table} TO {APP_ROLE}")  # written by eqreg_refresh_map_cells only
    op.execute(f"CREATE POLICY map_cells_app_read ON map_cells FOR SELECT TO {APP_ROLE} USING ({POLICY_USING})")
    op.execute(f"CREATE POLICY map_cell_state_app_read ON map_cell_state FOR SELECT TO {APP_ROLE} USING (true)")


def downgrade() -> None:
    op.execute("DROP FUNCTION eqreg_refresh_map_cells(integer, integer)")
    op.execute("DROP TABLE map_cell_state")
    op.execute("DROP TABLE map_cells")
