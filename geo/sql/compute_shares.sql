-- Town shares for every geometry in the temp table match_input(key, district_code, geom),
-- written to the temp table match_shares (DESIGN §3). The one matching rule of the registry:
-- projects (geo.matching.match_projects), import rows (match_staged) and the edit form's
-- preview (preview_shares) all fill match_input and run this.
-- Points: the containing town (a point on a shared edge goes to the lowest code);
-- multipoints: by count; lines: by geodesic length; polygons: by geodesic area
-- (eqreg_part_measure summed over the indexed town pieces in town_parts).
-- Shares are normalised so they sum to 1 over the towns a geometry touches; the primary town
-- has the largest share (ties: lowest code). district_code NULL = towns of every district.
INSERT INTO match_shares (key, town_id, town_code, district_code, share, length_km, area_km2, is_primary)
WITH target AS (
    SELECT m.key, m.district_code, m.geom, ST_Dimension(m.geom) AS dim,
           GeometryType(m.geom) = 'POINT' AS single_point
    FROM match_input m
), hit AS (
    SELECT p.key, tp.district_code, p.dim, p.single_point, tp.town_id, tp.code AS town_code,
           sum(eqreg_part_measure(tp.geom, p.geom)) AS measure
    FROM target p
    JOIN town_parts tp ON ST_Intersects(tp.geom, p.geom)
                      AND (p.district_code IS NULL OR tp.district_code = p.district_code)
    GROUP BY p.key, tp.district_code, p.dim, p.single_point, tp.town_id, tp.code
), kept AS (
    -- a single point lies in one town; otherwise drop towns only touched at their edge
    SELECT DISTINCT ON (key, CASE WHEN single_point THEN '' ELSE town_code END) *
    FROM hit
    WHERE measure > 0
    ORDER BY key, CASE WHEN single_point THEN '' ELSE town_code END, town_code
), shared AS (
    SELECT kept.*, measure / sum(measure) OVER (PARTITION BY key) AS share
    FROM kept
)
SELECT key, town_id, town_code, district_code, share,
       CASE WHEN dim = 1 THEN measure / 1000 END,
       CASE WHEN dim = 2 THEN measure / 1e6 END,
       row_number() OVER (PARTITION BY key ORDER BY share DESC, town_code) = 1
FROM shared
