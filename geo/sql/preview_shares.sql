-- The town shares a geometry would get, without saving anything (the edit form's preview).
-- Same rules as match_towns.sql: points → the containing town (lowest code on a shared edge),
-- multipoints by count, lines by geodesic length, polygons by geodesic area; shares sum to 1.
-- :geom (hex EWKB, EPSG:4326), :district_code (NULL = every district)
WITH candidate AS (
    SELECT g AS geom, ST_Dimension(g) AS dim, GeometryType(g) = 'POINT' AS single_point
    FROM ST_SetSRID(ST_GeomFromEWKB(decode(:geom, 'hex')), 4326) g
), hit AS (
    SELECT t.code, t.name, t.district_code, c.dim, c.single_point,
           CASE
             WHEN c.dim = 0 THEN ST_NumGeometries(ST_Intersection(t.geom, c.geom))::float8
             WHEN ST_CoveredBy(c.geom, t.geom) THEN
               CASE WHEN c.dim = 1 THEN ST_Length(c.geom::geography) ELSE ST_Area(c.geom::geography) END
             WHEN c.dim = 1 THEN ST_Length(ST_CollectionExtract(ST_Intersection(t.geom, c.geom), 2)::geography)
             ELSE ST_Area(ST_CollectionExtract(ST_Intersection(t.geom, c.geom), 3)::geography)
           END AS measure
    FROM candidate c
    JOIN towns t ON t.valid_to IS NULL AND ST_Intersects(t.geom, c.geom)
                AND (CAST(:district_code AS text) IS NULL OR t.district_code = :district_code)
), kept AS (
    SELECT DISTINCT ON (CASE WHEN single_point THEN '' ELSE code END) *
    FROM hit
    WHERE measure > 0
    ORDER BY CASE WHEN single_point THEN '' ELSE code END, code
)
SELECT code, name, district_code, measure / sum(measure) OVER () AS share,
       CASE WHEN dim = 1 THEN measure / 1000 END AS length_km,
       CASE WHEN dim = 2 THEN measure / 1e6 END AS area_km2
FROM kept
ORDER BY share DESC, code
