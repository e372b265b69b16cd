-- Match projects to the current towns of their district and apportion them (DESIGN §3).
-- Points: the containing town (a point on a shared edge goes to the lowest code);
-- multipoints: by count; lines: by geodesic length; polygons: by geodesic area
-- (eqreg_part_measure summed over the indexed town pieces in town_parts).
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
    SELECT p.id AS project_id, p.district_code, p.dim, p.single_point, tp.town_id, tp.code AS town_code,
           sum(eqreg_part_measure(tp.geom, p.geom)) AS measure
    FROM target p
    JOIN town_parts tp ON tp.district_code = p.district_code AND ST_Intersects(tp.geom, p.geom)
    GROUP BY p.id, p.district_code, p.dim, p.single_point, tp.town_id, tp.code
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
