-- What the district/town map draws in one view (EPSG:4326), one statement so the filter is
-- written once: the projects in the box when there are at most :max_features of them (or the
-- map is zoomed in to :full_zoom), otherwise the projects grouped on a grid of :cell degrees.
-- Rows: kind 'feature' (id, code, name, domain_code, stage, total_investment, completed_investment,
--       length_km, area_km2, geometry, towns = [{code, name, share}] largest share first) or
--       kind 'cluster' (n, by_stage, lng, lat = mean position of the cell's projects).
-- :west :south :east :north float8; :zoom int; :full_zoom int; :max_features int; :cell float8;
-- :domains text[] (the domain layers switched on; NULL = all);
-- the condition in braces below: the ProjectFilters of list, export and stats, filled in by
-- registry.sqlfiles.with_condition on the table named projects (it leaves out deleted projects);
-- :scope_towns text[] (NULL = the whole registry; else projects with a share in those towns);
-- :scope_districts text[] (NULL = every district; else projects of those districts).
-- :tolerance float8: degrees of half a screen pixel at :zoom; lines and polygons are simplified
-- to it, so one project with millions of vertices cannot make a view huge.
WITH visible AS NOT MATERIALIZED (  -- each use below runs its own index scan
    SELECT projects.id, projects.code, projects.name, projects.domain_code, projects.stage,
           projects.total_investment, projects.completed_investment, projects.length_km,
           projects.area_km2, projects.geom
    FROM projects
    WHERE projects.geom && ST_MakeEnvelope(:west, :south, :east, :north, 4326)
      AND (CAST(:domains AS text[]) IS NULL OR projects.domain_code = ANY(CAST(:domains AS text[])))
      AND ({condition})
      AND (CAST(:scope_towns AS text[]) IS NULL OR EXISTS (
            SELECT 1 FROM project_towns s
            WHERE s.project_id = projects.id AND s.town_code = ANY(CAST(:scope_towns AS text[]))))
      AND (CAST(:scope_districts AS text[]) IS NULL OR projects.district_code = ANY(CAST(:scope_districts AS text[])))
), detailed AS (
    SELECT (SELECT count(*) FROM (SELECT 1 FROM visible LIMIT :max_features + 1) c) <= :max_features
           OR :zoom >= :full_zoom AS yes
), cells AS (
    -- per cell and stage first, so each cell can say how many projects are at each stage;
    -- a project's position is the centre of its stored bounding box (no geometry is built)
    SELECT floor(x / :cell) AS cx, floor(y / :cell) AS cy, stage, count(*) AS n, avg(x) AS lng, avg(y) AS lat
    FROM (SELECT stage, (ST_XMin(geom) + ST_XMax(geom)) / 2 AS x, (ST_YMin(geom) + ST_YMax(geom)) / 2 AS y
          FROM visible) v
    WHERE NOT (SELECT yes FROM detailed)  -- a one-time filter: the branch not taken is not run
    GROUP BY 1, 2, 3
)
(SELECT 'feature' AS kind, v.id, v.code, v.name, v.domain_code, v.stage, v.total_investment,
        v.completed_investment,
        coalesce(v.length_km, CASE WHEN ST_Dimension(v.geom) = 1 THEN ST_Length(v.geom::geography) / 1e3 END)
            AS length_km,
        coalesce(v.area_km2, CASE WHEN ST_Dimension(v.geom) = 2 THEN ST_Area(v.geom::geography) / 1e6 END)
            AS area_km2,
        ST_AsGeoJSON(ST_SimplifyPreserveTopology(v.geom, :tolerance), 6) AS geometry, 1::bigint AS n, NULL::jsonb AS by_stage,
        NULL::float8 AS lng, NULL::float8 AS lat,
        (SELECT jsonb_agg(jsonb_build_object('code', s.town_code, 'name', t.name, 'share', s.share)
                          ORDER BY s.share DESC, s.town_code)
         FROM project_towns s JOIN towns t ON t.id = s.town_id WHERE s.project_id = v.id) AS towns
 FROM visible v
 WHERE (SELECT yes FROM detailed)
 ORDER BY v.id
 LIMIT :max_features + 1)
UNION ALL
SELECT 'cluster', NULL, NULL, NULL, NULL,
       (array_agg(stage ORDER BY n DESC, stage))[1],  -- the cell's most common stage
       NULL, NULL, NULL, NULL, NULL, sum(n)::bigint, jsonb_object_agg(stage, n),
       sum(lng * n) / sum(n), sum(lat * n) / sum(n), NULL
FROM cells
GROUP BY cx, cy
