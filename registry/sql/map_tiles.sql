-- One vector tile (Mapbox Vector Tile, Web Mercator z/x/y, extent 4096) of the projects the map
-- draws: the same two looks as map_features.sql, decided per tile instead of per view.
--   layer 'projects': the projects touching the tile when there are at most :max_features of them
--     (or from :full_zoom on, at most :feature_limit), properties id, code, name, domain, stage,
--     total_investment, completed_investment, length_km, area_km2, towns (JSON text
--     [{code, name, share}], largest share first), geometry clipped to the tile (+64 units).
--   layer 'clusters': otherwise, the projects grouped on a :cell_pixels screen grid, each counted
--     in the tile holding the centre of its bounding box; properties count, stage (the commonest)
--     and by_stage (JSON text {stage: count}); the point is the mean position of the cell.
-- :z :x :y int; :domains text[] (NULL = all); :stage text; :town text (9-digit code, NULL = all);
-- :scope_towns text[] (NULL = the whole registry; else projects with a share in those towns);
-- :max_features, :feature_limit, :full_zoom, :cell_pixels int.
-- :use_grid bool, :epoch, :stamp bigint: count the clusters from map_cells (migration 0016, the
-- same grid counted once per change stamp) when its stamp is :epoch/:stamp; else from the projects;
-- with a town filter or scope the grid's extents also narrow down where the projects are looked for.
WITH tile AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS merc, 256.0 * 2 ^ :z AS world  -- the world's width in screen pixels at :z
),
grid AS (  -- map_cells holds this zoom's cells counted at the stamp the caller read
    SELECT CAST(:use_grid AS boolean) AND EXISTS (
        SELECT 1 FROM map_cell_state s
        WHERE s.epoch = :epoch AND s.stamp = :stamp AND s.max_zoom >= :z AND s.cell_pixels = :cell_pixels)
        AS yes
),
reach AS MATERIALIZED (  -- where the projects touching the tile can lie: with a town filter or a town scope, the
           -- union of the extents of the grid rows of those towns (and filters) that reach the tile
           -- (NULL: none), else, or when the grid is not current, the tile itself
    SELECT CASE WHEN (CAST(:town AS text) IS NULL AND CAST(:scope_towns AS text[]) IS NULL) OR NOT (SELECT yes FROM grid)
                THEN ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
                ELSE (SELECT ST_MakeEnvelope(min(m.west), min(m.south), max(m.east), max(m.north), 4326)
                      FROM map_cells m,
                           (SELECT ST_XMin(b) AS w, ST_YMin(b) AS s, ST_XMax(b) AS e, ST_YMax(b) AS n
                            FROM ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) b) t
                      WHERE m.z = :z
                        AND (CAST(:domains AS text[]) IS NULL OR m.domain_code = ANY(CAST(:domains AS text[])))
                        AND (CAST(:stage AS text) IS NULL OR m.stage = :stage)
                        AND (CAST(:town AS text) IS NULL OR :town = ANY(m.towns))
                        AND (CAST(:scope_towns AS text[]) IS NULL OR m.towns && CAST(:scope_towns AS text[]))
                        AND (CAST(:scope_districts AS text[]) IS NULL
                             OR m.district_code = ANY(CAST(:scope_districts AS text[])))
                        -- reaches the tile, give or take 1e-4° (&& compares boxes rounded outwards
                        -- to float4: less than 2e-5° at any longitude)
                        AND m.west <= t.e + 1e-4 AND m.east >= t.w - 1e-4
                        AND m.south <= t.n + 1e-4 AND m.north >= t.s - 1e-4) END AS box
),
visible AS NOT MATERIALIZED (  -- each use below runs its own index scan
    SELECT p.id, p.code, p.name, p.domain_code, p.stage, p.total_investment, p.completed_investment,
           p.length_km, p.area_km2, p.geom
    FROM projects p
    WHERE p.deleted_at IS NULL
      -- written out, not tile.box: under row-level security only a qual on the table itself
      -- (constants and stable functions) becomes an index condition
      AND p.geom && ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326)
      AND p.geom && (SELECT box FROM reach)
      AND (CAST(:domains AS text[]) IS NULL OR p.domain_code = ANY(CAST(:domains AS text[])))
      AND (CAST(:stage AS text) IS NULL OR p.stage = :stage)
      AND (CAST(:town AS text) IS NULL OR EXISTS (
            SELECT 1 FROM project_towns s WHERE s.project_id = p.id AND s.town_code = :town))
      AND (CAST(:scope_towns AS text[]) IS NULL OR EXISTS (
            SELECT 1 FROM project_towns s
            WHERE s.project_id = p.id AND s.town_code = ANY(CAST(:scope_towns AS text[]))))
),
grid_cells AS (  -- this tile's cells from map_cells, per stage (empty when the grid is not current)
    SELECT m.cx::float8 AS cx, m.cy::float8 AS cy, m.stage, sum(m.n) AS n, sum(m.sx) AS sx, sum(m.sy) AS sy
    FROM map_cells m
    WHERE m.z = :z
      AND m.cx BETWEEN :x * (256 / :cell_pixels) AND (:x + 1) * (256 / :cell_pixels) - 1
      AND m.cy BETWEEN :y * (256 / :cell_pixels) AND (:y + 1) * (256 / :cell_pixels) - 1
      AND (CAST(:domains AS text[]) IS NULL OR m.domain_code = ANY(CAST(:domains AS text[])))
      AND (CAST(:stage AS text) IS NULL OR m.stage = :stage)
      AND (CAST(:town AS text) IS NULL OR :town = ANY(m.towns))
      AND (CAST(:scope_towns AS text[]) IS NULL OR m.towns && CAST(:scope_towns AS text[]))
      AND (CAST(:scope_districts AS text[]) IS NULL OR m.district_code = ANY(CAST(:scope_districts AS text[])))
      AND (SELECT yes FROM grid)
    GROUP BY 1, 2, 3
),
detailed AS (  -- a project centred in the tile touches it: more centred than :max_features, no need to count
    SELECT :z >= :full_zoom
           OR ((SELECT coalesce(sum(n), 0) FROM grid_cells) <= :max_features
               AND (SELECT count(*) FROM (SELECT 1 FROM visible LIMIT :max_features + 1) c) <= :max_features) AS yes
),
features AS (
    SELECT v.id, v.code, v.name, v.domain_code AS domain, v.stage,
           v.total_investment::float8 AS total_investment, v.completed_investment::float8 AS completed_investment,
           coalesce(v.length_km, CASE WHEN ST_Dimension(v.geom) = 1 THEN ST_Length(v.geom::geography) / 1e3 END)
               AS length_km,
           coalesce(v.area_km2, CASE WHEN ST_Dimension(v.geom) = 2 THEN ST_Area(v.geom::geography) / 1e6 END)
               AS area_km2,
           (SELECT jsonb_agg(jsonb_build_object('code', s.town_code, 'name', t.name, 'share', round(s.share::numeric, 4))
                             ORDER BY s.share DESC, s.town_code)
            FROM project_towns s JOIN towns t ON t.id = s.town_id WHERE s.project_id = v.id)::text AS towns,
           ST_AsMVTGeom(ST_Transform(v.geom, 3857), tile.merc, 4096, 64, true) AS geom
    FROM visible v, tile
    WHERE (SELECT yes FROM detailed)
    ORDER BY v.id
    LIMIT :feature_limit
),
layered AS (  -- drawn in this order: areas, then lines, then points on top (as markers over paths)
    SELECT * FROM features WHERE geom IS NOT NULL ORDER BY ST_Dimension(geom) DESC, id
),
centres AS (  -- screen pixels at :z of each project's bounding-box centre (Web Mercator)
    SELECT c.stage, (c.lng + 180) / 360 * tile.world AS px,
           (1 - ln(tan(radians(c.lat)) + 1 / cos(radians(c.lat))) / pi()) / 2 * tile.world AS py
    FROM tile, (SELECT v.stage, (ST_XMin(b) + ST_XMax(b)) / 2 AS lng, (ST_YMin(b) + ST_YMax(b)) / 2 AS lat
                FROM visible v, LATERAL (SELECT v.geom::box2d AS b) box) c
    WHERE NOT (SELECT yes FROM detailed) AND NOT (SELECT yes FROM grid)  -- one-time filters: the branch not taken is not run
),
cells AS (
    SELECT floor(px / :cell_pixels) AS cx, floor(py / :cell_pixels) AS cy, stage, count(*) AS n,
           sum(px) AS sx, sum(py) AS sy
    FROM centres
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT cx, cy, stage, n, sx, sy FROM grid_cells WHERE NOT (SELECT yes FROM detailed)
),
clusters AS (  -- cells lie within one tile: keep this tile's (each project counted once, in the tile of its centre)
    SELECT sum(n)::int AS count,
           (array_agg(stage ORDER BY n DESC, stage))[1] AS stage,  -- the cell's most common stage
           jsonb_object_agg(stage, n)::text AS by_stage,
           -- tile coordinates (4096 per 256 pixels) of the cell's mean position
           ST_MakePoint(round((sum(sx) / sum(n) - :x * 256) * 16), round((sum(sy) / sum(n) - :y * 256) * 16))
               AS geom
    FROM cells
    WHERE floor(cx * :cell_pixels / 256) = :x AND floor(cy * :cell_pixels / 256) = :y
    GROUP BY cx, cy
)
SELECT (SELECT coalesce(ST_AsMVT(layered, 'projects', 4096, 'geom'), '') FROM layered)
    || (SELECT coalesce(ST_AsMVT(clusters, 'clusters', 4096, 'geom'), '') FROM clusters) AS tile
