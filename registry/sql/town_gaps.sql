-- Land of :district_code that no current town covers, one row per piece, with its geodesic area
-- and a point inside it. With a loaded outline (geom_source = 'outline') a gap is the outline
-- minus the union of the towns; without one, a hole inside that union.
WITH cover AS (
    SELECT ST_Union(geom) AS geom FROM towns WHERE district_code = :district_code AND valid_to IS NULL
), outline AS (
    SELECT geom FROM districts
    WHERE code = :district_code AND geom_source = 'outline' AND geom IS NOT NULL
), gap AS (
    SELECT piece.geom
    FROM outline o, cover c,
         ST_Dump(ST_CollectionExtract(ST_Difference(o.geom, COALESCE(c.geom, 'POLYGON EMPTY'::geometry)), 3)) piece
    UNION ALL
    SELECT ring.geom
    FROM cover c, ST_Dump(c.geom) part, ST_DumpRings(part.geom) ring
    WHERE ring.path[1] > 0 AND NOT EXISTS (SELECT 1 FROM outline)
), measured AS (
    SELECT geom, ST_Area(geom::geography) / 1e6 AS area_km2 FROM gap
)
SELECT area_km2, ST_X(ST_PointOnSurface(geom)) AS lng, ST_Y(ST_PointOnSurface(geom)) AS lat
FROM measured
WHERE area_km2 >= :min_area_km2
ORDER BY area_km2 DESC
