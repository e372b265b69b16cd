-- The town shares a geometry would get, without saving anything (the edit form's preview).
-- Same rules as match_towns.sql (eqreg_part_measure over town_parts; a point goes to one town,
-- the lowest code on a shared edge); shares sum to 1.
-- :geom (hex EWKB, EPSG:4326), :district_code (NULL = every district)
WITH candidate AS (
    SELECT g AS geom, ST_Dimension(g) AS dim, GeometryType(g) = 'POINT' AS single_point
    FROM ST_SetSRID(ST_GeomFromEWKB(decode(:geom, 'hex')), 4326) g
), hit AS (
    SELECT tp.code, tp.district_code, c.dim, c.single_point,
           sum(eqreg_part_measure(tp.geom, c.geom)) AS measure
    FROM candidate c
    JOIN town_parts tp ON ST_Intersects(tp.geom, c.geom)
                      AND (CAST(:district_code AS text) IS NULL OR tp.district_code = :district_code)
    GROUP BY tp.code, tp.district_code, c.dim, c.single_point
), kept AS (
    SELECT DISTINCT ON (CASE WHEN single_point THEN '' ELSE code END) *
    FROM hit
    WHERE measure > 0
    ORDER BY CASE WHEN single_point THEN '' ELSE code END, code
)
SELECT kept.code, t.name, kept.district_code, measure / sum(measure) OVER () AS share,
       CASE WHEN dim = 1 THEN measure / 1000 END AS length_km,
       CASE WHEN dim = 2 THEN measure / 1e6 END AS area_km2
FROM kept
JOIN towns t ON t.code = kept.code AND t.valid_to IS NULL
ORDER BY share DESC, kept.code
