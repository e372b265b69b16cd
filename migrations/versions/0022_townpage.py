"""townpage: a town's map at 10^6 projects — shared per-town figures, the grid's extents (issue 13 item 4)

Two things the first load of ``/map`` and ``/towns/<code>`` waited for at 10^6 projects.

**Per-town figures.**
At 10^6 projects ``registry.figures.town_figures`` takes seconds, and each worker process computed
it for itself (``registry.cache``): the first ``/map`` or ``/towns/<code>`` a fresh worker served
waited 7–14 s for it (BENCHMARKS §9). ``town_figure_cache`` keeps what one worker computed, one
row per town, for the change stamp it was computed at; another worker reads the rows of its towns
instead of computing them again.

A town's row is the same for every scope that sees the town, except a district-limited one: that
scope sees only its districts' projects, so a pipeline of another district that has a share in the
town is not in its figures. Rows therefore carry a ``reach`` — ``eqreg_figure_reach()``: '' for a
scope without a district limit (the whole registry and town users), else its districts, sorted and
comma-separated — and a reader reads only its own reach. Row-level security shows the web role the
rows of its reach and of towns it sees (as ``towns``' figures are scoped).

``eqreg_store_town_figures(epoch, stamp, figures)`` (owner's rights) is the only way the web role
writes it: figures computed at a stamp that is no longer the registry's are not kept; the rows of
older stamps are deleted; only towns the request's secret may see are stored, under the request's
reach (the caller cannot choose either).

**The extent of each grid row.** ``map_cells`` (0016) said how many projects are *centred* in a
tile; a town's tile that holds few of the town's projects but tens of thousands of others still
looked at all of those to find the town's (the filter is a share in the town, not a place). Each row
now also keeps the bounding box of its projects (``west``, ``south``, ``east``, ``north``, degrees); the union of the boxes of
the rows of the town (or of the scope's towns) that reach the tile bounds where the town's projects
touching the tile can lie, and ``registry/sql/map_tiles.sql`` looks only there.
``eqreg_refresh_map_cells`` fills them (each zoom from the one below, as the counts).

Revision ID: 0022_townpage
Revises: 0021_selfcaps
"""
from alembic import op
import sqlalchemy as sa

from migrations import revision_module

revision = '0022_townpage'
down_revision = '0021_selfcaps'
branch_labels = None
depends_on = None

APP_ROLE = "eqreg_app"

TABLE = """
CREATE TABLE town_figure_cache (
    epoch bigint NOT NULL,
    stamp bigint NOT NULL,
    reach text NOT NULL,
    town_code text NOT NULL,
    district_code text NOT NULL,
    figures json NOT NULL,  -- json, not jsonb: the keys keep their order
    PRIMARY KEY (epoch, stamp, reach, town_code)
);
"""

FUNCTIONS = r"""
-- Whose figures a request shares: the accounts that may edit what the figures count share them —
-- '' for admin, bureau and planner without a district limit, 'w:' and the districts (sorted) for
-- bureau and planner limited to those; any other request (town officials, viewers) only its own
-- credential's ('secret:' and a hash of its secret), so no account can store figures that another
-- one reads unless it could change the projects behind them (an attack pass showed a town
-- official's injected figures served to admins).
CREATE FUNCTION eqreg_figure_reach() RETURNS text LANGUAGE sql STABLE SET search_path = public, pg_temp AS $fn$
  SELECT CASE WHEN s.role IN ('admin', 'bureau', 'planner') AND s.districts IS NULL THEN ''
              WHEN s.role IN ('bureau', 'planner')
                THEN 'w:' || array_to_string(ARRAY(SELECT unnest(s.districts) ORDER BY 1), ',')
              ELSE 'secret:' || encode(sha256(convert_to('figures:' || coalesce(current_setting('eqreg.session', true), ''),
                                                         'UTF8')), 'hex') END
  FROM eqreg_request_scope() s
$fn$;

-- Keep per-town figures (a JSON array of objects with a "code") computed at epoch/stamp: the
-- towns the request sees, under its reach. Returns how many rows were added.
CREATE FUNCTION eqreg_store_town_figures(epoch bigint, stamp bigint, figures json) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
  added integer;
BEGIN
  IF pg_is_in_recovery() THEN
    RETURN 0;  -- a standby: the primary's rows arrive by replication
  END IF;
  IF NOT EXISTS (SELECT 1 FROM registry_changes c WHERE c.epoch = $1 AND c.stamp = $2) THEN
    RETURN 0;  -- the registry has changed since: these figures describe the past
  END IF;
  DELETE FROM town_figure_cache f WHERE f.epoch <> $1 OR f.stamp <> $2;
  INSERT INTO town_figure_cache AS f (epoch, stamp, reach, town_code, district_code, figures)
  SELECT $1, $2, eqreg_figure_reach(), t.code, t.district_code, e.value
  FROM json_array_elements($3) e
  JOIN towns t ON t.code = e.value ->> 'code' AND t.valid_to IS NULL
  WHERE eqreg_sees_every_row() OR t.code = ANY (eqreg_visible_towns())
     OR t.district_code = ANY (eqreg_visible_districts())
  ON CONFLICT DO NOTHING;
  GET DIAGNOSTICS added = ROW_COUNT;
  RETURN added;
END
$fn$;
"""

GRID_FUNCTION = r"""
CREATE OR REPLACE FUNCTION eqreg_refresh_map_cells(max_zoom integer, cell_pixels integer) RETURNS boolean
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
           ST_XMin(box.b) AS west, ST_YMin(box.b) AS south, ST_XMax(box.b) AS east, ST_YMax(box.b) AS north,
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
    INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy, west, south, east, north)
    SELECT $1, floor(px / $2), floor(py / $2), stage, domain_code, district_code, towns, count(*), sum(px), sum(py),
           min(west), min(south), max(east), max(north)
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
    INSERT INTO map_cells (z, cx, cy, stage, domain_code, district_code, towns, n, sx, sy, west, south, east, north)
    SELECT zoom, cx / 2, cy / 2, stage, domain_code, district_code, towns,  -- cx / 2: floor (cx >= 0)
           sum(n), sum(sx) / 2, sum(sy) / 2, min(west), min(south), max(east), max(north)
    FROM map_cells WHERE z = zoom + 1
    GROUP BY 2, 3, 4, 5, 6, 7;
  END LOOP;
  RETURN true;
END
$fn$;
"""

EXTENTS = ("ALTER TABLE map_cells ADD COLUMN west double precision, ADD COLUMN south double precision, "
           "ADD COLUMN east double precision, ADD COLUMN north double precision")


POLICY_USING = ("reach = (SELECT eqreg_figure_reach()) AND ((SELECT eqreg_sees_every_row()) "
                "OR town_code = ANY ((SELECT eqreg_visible_towns())::text[]) "
                "OR district_code = ANY ((SELECT eqreg_visible_districts())::text[]))")


def upgrade() -> None:
    owner = op.get_bind().execute(sa.text("SELECT quote_ident(current_user)")).scalar_one()
    op.execute("DELETE FROM map_cell_state")  # counted again, with the extents, when next asked for
    op.execute("DELETE FROM map_cells")
    op.execute(EXTENTS)
    op.execute(GRID_FUNCTION)
    op.execute(TABLE)
    op.execute(FUNCTIONS)
    for signature in ("eqreg_figure_reach()", "eqreg_store_town_figures(bigint, bigint, json)"):
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute("ALTER TABLE town_figure_cache ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE town_figure_cache FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY town_figure_cache_owner_all ON town_figure_cache TO {owner} USING (true) WITH CHECK (true)")
    op.execute(f"REVOKE ALL ON town_figure_cache FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON town_figure_cache TO {APP_ROLE}")  # written by eqreg_store_town_figures only
    op.execute(f"CREATE POLICY town_figure_cache_app_read ON town_figure_cache FOR SELECT TO {APP_ROLE} "
               f"USING ({POLICY_USING})")


def downgrade() -> None:
    op.execute("DELETE FROM map_cell_state")
    op.execute("DELETE FROM map_cells")
    op.execute(revision_module("0016_map1m.py").FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("ALTER TABLE map_cells DROP COLUMN west, DROP COLUMN south, DROP COLUMN east, DROP COLUMN north")
    op.execute("DROP TABLE town_figure_cache")  # its policy calls eqreg_figure_reach()
    op.execute("DROP FUNCTION eqreg_store_town_figures(bigint, bigint, json)")
    op.execute("DROP FUNCTION eqreg_figure_reach()")
