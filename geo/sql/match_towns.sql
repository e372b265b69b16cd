-- Match projects to the current towns of their district and apportion them (DESIGN §3).
-- Points: the containing town (a point on a shared edge goes to the lowest code);
-- multipoints: by count; lines: by geodesic length; polygons: by geodesic area.
-- Shares are normalised so they sum to 1 over the towns a project touches.
-- :project_ids bigint[] (NULL = every project of :district_code)
-- Run after clear_project_towns.sql with the same parameters.
WITH target AS (
    SELECT p.id, p.district_code, p.geom, ST_Dimension(p.geom) AS dim,
           GeometryType(p.geom) = 'POINT' AS single_point
    FROM projects p
    WHERE CAST(:project_ids AS bigint[]) IS NULL AND p.district_code = :district_code
    UNION ALL
    SELECT p.id, p.district_code, p.geom, ST_Dimension(p.geom), GeometryType(p.geom) = 'POINT'
    FROM unnest(CAST(:project_ids AS bigint[])) AS ids(id)
    JOIN projects p ON p.id = ids.id
), hit AS (
    SELECT p.id AS project_id, p.district_code, p.dim, p.single_point, t.id AS town_id, t.code AS town_code,
           CASE
             WHEN p.single_point THEN 1.0
             WHEN p.dim = 0 THEN ST_NumGeometries(ST_Intersection(t.geom, p.geom))::float8
             WHEN ST_CoveredBy(p.geom, t.geom) THEN
               CASE WHEN p.dim = 1 THEN ST_Length(p.geom::geography) ELSE ST_Area(p.geom::geography) END
             WHEN p.dim = 1 THEN ST_Length(ST_CollectionExtract(ST_Intersection(t.geom, p.geom), 2)::geography)
             ELSE ST_Area(ST_CollectionExtract(ST_Intersection(t.geom, p.geom), 3)::geography)
           END AS measure
    FROM target p
    JOIN towns t ON t.district_code = p.district_code AND t.valid_to IS NULL
                AND ST_Intersects(t.geom, p.geom)
), kept AS (
    -- a single point lies in one town; otherwise drop towns only touched at their edge
    SELECT DISTINCT ON (project_id, CASE WHEN single_point THEN '' ELSE town_code END) *
    FROM hit
    WHERE measure > 0
    ORDER BY project_id, CASE WHEN single_point THEN '' ELSE town_code END, town_code
), shared AS (
    SELECT kept.*, measure / sum(measure) OVER (PARTITION BY project_id) AS share
    FROM kept
), inserted AS (
    INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
    SELECT project_id, town_code, district_code, town_id, share,
           CASE WHEN dim = 1 THEN measure / 1000 END,
           CASE WHEN dim = 2 THEN measure / 1e6 END
    FROM shared
    RETURNING project_id, town_code, share
), best AS (
    SELECT DISTINCT ON (project_id) project_id, town_code
    FROM inserted
    ORDER BY project_id, share DESC, town_code
)
UPDATE projects p
SET primary_town_code = best.town_code
FROM target LEFT JOIN best ON best.project_id = target.id
WHERE p.id = target.id
  AND p.primary_town_code IS DISTINCT FROM best.town_code
