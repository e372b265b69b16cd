"""gridinc: the map's cluster grid counted again only where projects changed (issue 13 item 4)

``eqreg_refresh_map_cells`` (0016, extents 0022) counted ``map_cells`` whole after every change
stamp: 13–25 s of one core at 10^6 projects, so the first map after any edit was slow. Now:

* ``map_cell_projects`` keeps, per project the grid counts, what it counted for it: its cell at the
  deepest zoom, its grouping (stage, domain, district, towns), its centre's pixels and its box.
* ``map_cell_dirty`` lists the projects changed since: statement-level triggers with transition
  tables on ``projects`` (a new counted project; a change of stage, domain, district, place or
  soft deletion; a deletion) and ``project_towns`` (any share added, moved or removed) add their ids
  in the writing transaction, so an id is there exactly when its change is committed.
* The count then removes those projects' rows from ``map_cell_projects``, adds their current ones,
  and counts again only the grid rows they were or are in: the deepest zoom's from
  ``map_cell_projects``, each zoom above from the four cells below it, as the whole count does. Rows
  are counted again, not adjusted, so the counts and extents are exactly the whole count's (the
  sums of pixels up to the order of addition).
* The whole count (it also fills ``map_cell_projects``) is still done when the bookkeeping is
  missing or counted for another grid, when more than a tenth of the projects (the planner's
  estimate; and more than a hundred) changed — an import —, and when the caller's transaction is READ COMMITTED: the
  counting reads over several statements, one snapshot is needed for the grid and the stamp it is
  written with (``registry.map_tiles.count_grid`` counts in REPEATABLE READ). A count that started
  from a snapshot older than another one's that has since committed fails on the stamp's row,
  first thing, and returns false as a count already under way does. TRUNCATE of ``projects`` or
  ``project_towns`` forgets the grid's stamp: the next count is whole.

A town's set in a grid row is now sorted, so one set of towns is one row whichever way it is counted.

Revision ID: 0024_gridinc
Revises: 0023_codereach
"""
from alembic import op

from migrations import revision_module

revision = '0024_gridinc'
down_revision = '0023_codereach'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

TABLES = """
CREATE TABLE map_cell_projects (
    project_id bigint CONSTRAINT map_cell_projects_pkey PRIMARY KEY,
    cx integer NOT NULL,
    cy integer NOT NULL,
    stage text NOT NULL,
    domain_code text NOT NULL,
    district_code text,
    towns text[] NOT NULL,
    px double precision NOT NULL,
    py double precision NOT NULL,
    west double precision NOT NULL,
    south double precision NOT NULL,
    east double precision NOT NULL,
    north double precision NOT NULL
);
CREATE INDEX ix_map_cell_projects_cell ON map_cell_projects (cx, cy, stage, domain_code);
CREATE TABLE map_cell_dirty (project_id bigint NOT NULL);
-- One grid row by its key (district aside): the count's probes read a row or two, not the cell's ~100.
CREATE INDEX ix_map_cells_row ON map_cells (z, cx, cy, stage, domain_code, towns);
"""

NOTE_FUNCTION = r"""
CREATE FUNCTION eqreg_note_map_cell_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM map_cell_state;  -- the next count is whole
  ELSIF TG_TABLE_NAME = 'projects' THEN
    IF TG_OP = 'INSERT' THEN
      INSERT INTO map_cell_dirty SELECT id FROM new_rows WHERE deleted_at IS NULL AND geom IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
      INSERT INTO map_cell_dirty SELECT id FROM old_rows;
    ELSE  -- only what the grid counts: stage, domain, district, place (its box), being counted
      INSERT INTO map_cell_dirty
      SELECT n.id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id
      WHERE o.id IS NULL OR n.stage IS DISTINCT FROM o.stage OR n.domain_code IS DISTINCT FROM o.domain_code
         OR n.district_code IS DISTINCT FROM o.district_code
         OR (n.deleted_at IS NULL) <> (o.deleted_at IS NULL)
         OR ST_AsBinary(n.geom) IS DISTINCT FROM ST_AsBinary(o.geom)
      UNION ALL
      SELECT o.id FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id);
    END IF;
  ELSIF TG_OP = 'INSERT' THEN  -- project_towns
    INSERT INTO map_cell_dirty SELECT DISTINCT project_id FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO map_cell_dirty SELECT DISTINCT project_id FROM old_rows;
  ELSE
    INSERT INTO map_cell_dirty
    SELECT project_id FROM (SELECT project_id, town_code FROM new_rows EXCEPT ALL SELECT project_id, town_code FROM old_rows
                            UNION ALL
                            SELECT project_id, town_code FROM old_rows EXCEPT ALL SELECT project_id, town_code FROM new_rows) d
    GROUP BY project_id;
  END IF;
  RETURN NULL;
END
$fn$;
"""

TRIGGERS = [
    ("projects", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
    ("projects", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("projects", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ("projects", "TRUNCATE", ""),
    ("project_towns", "INSERT", "REFERENCING NEW TABLE AS new_rows"),
    ("project_towns", "UPDATE", "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"),
    ("project_towns", "DELETE", "REFERENCING OLD TABLE AS old_rows"),
    ("project_towns", "TRUNCATE", ""),
]

# The rows of map_cell_projects, from ``projects p`` (as map_tiles.sql: screen pixels of the
# bounding box's centre at max_zoom $1; towns sorted): every project's (a CTE ``towns`` joined) or,
# ``AND p.id = ANY (changed)`` added, a few (their towns looked up one by one).
WHOLE, FEW = (
    {"@TOWNS@": "t.codes", "@JOIN@": "LEFT JOIN towns t ON t.project_id = p.id"},
    {"@TOWNS@": "(SELECT array_agg(pt.town_code::text ORDER BY pt.town_code::text) "
                "FROM project_towns pt WHERE pt.project_id = p.id)", "@JOIN@": ""})
PROJECT_ROW = r"""
    SELECT p.id, floor(px / $2), floor(py / $2), p.stage, p.domain_code, p.district_code,
           coalesce(@TOWNS@, '{}'),
           px, py, ST_XMin(box.b), ST_YMin(box.b), ST_XMax(box.b), ST_YMax(box.b)
    FROM projects p
    @JOIN@
    CROSS JOIN LATERAL (SELECT p.geom::box2d AS b) box
    CROSS JOIN LATERAL (SELECT (ST_XMin(box.b) + ST_XMax(box.b)) / 2 AS lng,
                               (ST_YMin(box.b) + ST_YMax(box.b)) / 2 AS lat) c
    CROSS JOIN (SELECT 256.0 * 2 ^ $1 AS world) w
    CROSS JOIN LATERAL (SELECT (c.lng + 180) / 360 * w.world AS px,
                               (1 - ln(tan(radians(c.lat)) + 1 / cos(radians(c.lat))) / pi()) / 2 * w.world AS py) xy
    WHERE p.deleted_at IS NULL AND p.geom IS NOT NULL"""

GRID_FUNCTION = r"""
CREATE OR REPLACE FUNCTION eqreg_refresh_map_cells(max_zoom integer, cell_pixels integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp SET work_mem = '128MB' AS $fn$
DECLARE
  zoom integer;
  counted_for record;
  changed bigint[];
  hash_joins text := current_setting('enable_hashjoin');
  merge_joins text := current_setting('enable_mergejoin');
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN false;  -- a standby: the primary's grid arrives by replication
  END IF;
  IF NOT pg_try_advisory_xact_lock(hashtext('eqreg_refresh_map_cells')) THEN
    RETURN false;  -- another transaction is counting it: don't wait (the tiles count for themselves)
  END IF;
  SELECT s.max_zoom, s.cell_pixels, s.epoch = c.epoch AND s.stamp = c.stamp AS current
    INTO counted_for FROM map_cell_state s, registry_changes c;
  IF counted_for.current AND counted_for.max_zoom = $1 AND counted_for.cell_pixels = $2 THEN
    RETURN true;  -- already current
  END IF;
  BEGIN
    -- The stamp's row first: in REPEATABLE READ, a count from a snapshot older than another
    -- count's that has committed since fails here (a serialization failure), before any work.
    INSERT INTO map_cell_state AS s (epoch, stamp, max_zoom, cell_pixels)
    SELECT c.epoch, c.stamp, $1, $2 FROM registry_changes c
    ON CONFLICT (one) DO UPDATE SET epoch = excluded.epoch, stamp = excluded.stamp,
                                    max_zoom = excluded.max_zoom, cell_pixels = excluded.cell_pixels;
  EXCEPTION WHEN serialization_failure THEN
    RETURN false;  -- another transaction has counted it since this one's snapshot
  END;
  IF counted_for.max_zoom IS DISTINCT FROM $1 OR counted_for.cell_pixels IS DISTINCT FROM $2
     OR current_setting('transaction_isolation') = 'read committed'
     -- about two rows per changed project (its row and its shares'): past about 5 000 changed
     -- projects at 10^6 (3.4 ms each, measured) the whole count (22 s) is the cheaper
     OR (SELECT count(*) FROM map_cell_dirty)
        > greatest(200, 0.01 * (SELECT reltuples FROM pg_class WHERE oid = 'projects'::regclass)) THEN
    -- The whole count. One statement: the projects, the changes it covers and the stamp written
    -- to map_cell_state come from one snapshot (also in READ COMMITTED).
    DELETE FROM map_cells;  -- not TRUNCATE: readers keep their snapshot and take no conflicting lock
    TRUNCATE map_cell_projects;  -- read by this function only, under its lock
    -- filled faster without its indexes, made again below
    ALTER TABLE map_cell_projects DROP CONSTRAINT map_cell_projects_pkey;
    DROP INDEX ix_map_cell_projects_cell;
    WITH changes AS (SELECT epoch, stamp FROM registry_changes),
    towns AS (SELECT project_id, array_agg(town_code::text ORDER BY town_code::text) AS codes
              FROM project_towns GROUP BY project_id),
    covered AS (DELETE FROM map_cell_dirty),  -- changes committed since stay for the next count
    rows AS (
      INSERT INTO map_cell_projects (project_id, cx, cy, stage, domain_code, district_code, towns,
                                     px, py, west, south, east, north)
      @PROJECT_ROWS@
      RETURNING *
    ),
    counted AS (
      INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy, west, south, east, north)
      SELECT $1, cx, cy, stage, domain_code, district_code, towns, count(*), sum(px), sum(py),
             min(west), min(south), max(east), max(north)
      FROM rows
      GROUP BY 2, 3, 4, 5, 6, 7
    )
    UPDATE map_cell_state s SET epoch = c.epoch, stamp = c.stamp FROM changes c;
    -- A cell at zoom z is two by two cells at z + 1 (floor(floor(p / c) / 2) = floor(p / 2 / c)),
    -- and pixel coordinates halve exactly: each zoom is counted from the one above.
    FOR zoom IN REVERSE $1 - 1 .. 0 LOOP
      INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy, west, south, east, north)
      SELECT zoom, cx >> 1, cy >> 1, stage, domain_code, district_code, towns,  -- floor(c / 2), also below 0
             sum(n), sum(sx) / 2, sum(sy) / 2, min(west), min(south), max(east), max(north)
      FROM map_cells WHERE z = zoom + 1
      GROUP BY 2, 3, 4, 5, 6, 7;
    END LOOP;
    ALTER TABLE map_cell_projects ADD CONSTRAINT map_cell_projects_pkey PRIMARY KEY (project_id);
    CREATE INDEX ix_map_cell_projects_cell ON map_cell_projects (cx, cy, stage, domain_code);
    RETURN true;
  END IF;
  -- Only the changed projects (REPEATABLE READ: every statement below reads one snapshot, the
  -- one the stamp above was read in).
  WITH covered AS (DELETE FROM map_cell_dirty RETURNING project_id)
  SELECT array_agg(DISTINCT project_id) INTO changed FROM covered;
  IF changed IS NULL THEN
    RETURN true;  -- a change of something else (towns, reports…): the grid is as it was
  END IF;
  -- A few rows each found by index: never a sort or hash of a whole zoom (the estimates of the
  -- small table mislead the planner into those). Local to the transaction, put back below.
  PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
  CREATE TEMP TABLE map_cell_touched (cx integer, cy integer, stage text, domain_code text, district_code text,
                                      towns text[]) ON COMMIT DROP;
  WITH gone AS (DELETE FROM map_cell_projects m WHERE m.project_id = ANY (changed)
                RETURNING m.cx, m.cy, m.stage, m.domain_code, m.district_code, m.towns)
  INSERT INTO map_cell_touched SELECT * FROM gone;
  WITH rows AS (
    INSERT INTO map_cell_projects (project_id, cx, cy, stage, domain_code, district_code, towns,
                                   px, py, west, south, east, north)
    @PROJECT_ROW@ AND p.id = ANY (changed)
    RETURNING cx, cy, stage, domain_code, district_code, towns
  )
  INSERT INTO map_cell_touched SELECT * FROM rows;
  ANALYZE map_cell_touched;  -- a few rows: the grid's rows are then found by their index
  FOR zoom IN REVERSE $1 .. 0 LOOP
    -- each row once; above the deepest zoom, the rows holding the ones just counted
    WITH done AS (DELETE FROM map_cell_touched RETURNING *)
    INSERT INTO map_cell_touched
    SELECT DISTINCT cx >> shift, cy >> shift, stage, domain_code, district_code, towns
    FROM done CROSS JOIN (SELECT CASE WHEN zoom < $1 THEN 1 ELSE 0 END AS shift) s;
    DELETE FROM map_cells m USING map_cell_touched t
    WHERE m.z = zoom AND m.cx = t.cx AND m.cy = t.cy AND m.stage = t.stage AND m.domain_code = t.domain_code
      AND m.district_code IS NOT DISTINCT FROM t.district_code AND m.towns = t.towns;
    IF zoom = $1 THEN
      INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy, west, south, east, north)
      SELECT zoom, p.cx, p.cy, p.stage, p.domain_code, p.district_code, p.towns, count(*), sum(p.px), sum(p.py),
             min(p.west), min(p.south), max(p.east), max(p.north)
      FROM map_cell_touched t
      JOIN map_cell_projects p ON p.cx = t.cx AND p.cy = t.cy AND p.stage = t.stage AND p.domain_code = t.domain_code
                              AND p.district_code IS NOT DISTINCT FROM t.district_code AND p.towns = t.towns
      GROUP BY 2, 3, 4, 5, 6, 7;
    ELSE
      INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy, west, south, east, north)
      SELECT zoom, t.cx, t.cy, m.stage, m.domain_code, m.district_code, m.towns,
             sum(m.n), sum(m.sx) / 2, sum(m.sy) / 2, min(m.west), min(m.south), max(m.east), max(m.north)
      FROM map_cell_touched t
      CROSS JOIN (VALUES (0, 0), (0, 1), (1, 0), (1, 1)) d (dx, dy)  -- its four cells below
      JOIN map_cells m ON m.z = zoom + 1 AND m.cx = 2 * t.cx + d.dx AND m.cy = 2 * t.cy + d.dy
                      AND m.stage = t.stage AND m.domain_code = t.domain_code
                      AND m.district_code IS NOT DISTINCT FROM t.district_code AND m.towns = t.towns
      GROUP BY 2, 3, 4, 5, 6, 7;
    END IF;
  END LOOP;
  DROP TABLE map_cell_touched;
  PERFORM set_config('enable_hashjoin', hash_joins, true), set_config('enable_mergejoin', merge_joins, true);
  RETURN true;
END
$fn$;
"""


def _project_rows(kind: dict) -> str:
    rows = PROJECT_ROW
    for placeholder, value in kind.items():
        rows = rows.replace(placeholder, value)
    return rows


GRID_FUNCTION = GRID_FUNCTION.replace("@PROJECT_ROWS@", _project_rows(WHOLE)).replace("@PROJECT_ROW@", _project_rows(FEW))


def upgrade() -> None:
    op.execute("DELETE FROM map_cell_state")  # counted again, whole, when next asked for
    op.execute("DELETE FROM map_cells")
    op.execute(TABLES)
    for table in ("map_cell_projects", "map_cell_dirty"):
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")  # written and read by the definer functions only
    op.execute(NOTE_FUNCTION)
    for table, event, referencing in TRIGGERS:
        op.execute(f"CREATE TRIGGER {table}_map_cells_{event.lower()} AFTER {event} ON {table} {referencing} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION eqreg_note_map_cell_change()")
    op.execute(GRID_FUNCTION)


def downgrade() -> None:
    op.execute("DELETE FROM map_cell_state")
    op.execute("DELETE FROM map_cells")
    op.execute(revision_module("0022_townpage.py").GRID_FUNCTION)
    for table, event, _ in TRIGGERS:
        op.execute(f"DROP TRIGGER {table}_map_cells_{event.lower()} ON {table}")
    op.execute("DROP FUNCTION eqreg_note_map_cell_change()")
    op.execute("DROP INDEX ix_map_cells_row")
    op.execute("DROP TABLE map_cell_dirty")
    op.execute("DROP TABLE map_cell_projects")
