-- Pairs of current towns of :district_code whose interiors overlap, with the geodesic overlap area.
-- Towns that only share an edge are skipped before any intersection is computed.
SELECT a.code AS code_a, a.name AS name_a, b.code AS code_b, b.name AS name_b,
       ST_Area(o.geom::geography) / 1e6 AS area_km2
FROM towns a
JOIN towns b ON b.district_code = a.district_code AND b.valid_to IS NULL AND a.code < b.code
            AND ST_Intersects(a.geom, b.geom)
            AND ST_Relate(a.geom, b.geom, '2********')
CROSS JOIN LATERAL (SELECT ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS geom) o
WHERE a.district_code = :district_code AND a.valid_to IS NULL
  AND ST_Area(o.geom::geography) / 1e6 >= :min_area_km2
ORDER BY area_km2 DESC, code_a, code_b
