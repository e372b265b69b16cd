-- Where one project's geometry lies relative to its district, and its geodesic measures.
-- inside: touches the district (outline, else the union of its current towns; NULL when the
-- district has no boundary); swapped: the lng/lat-flipped geometry would touch it;
-- outside_km / outside_km2: geodesic length / area of the part of a line / polygon outside it
-- (partly_outside; 0 when it lies wholly inside).
-- :geom (hex EWKB, EPSG:4326), :district_code
WITH district AS (
    SELECT COALESCE(d.geom, (SELECT ST_Multi(ST_Union(t.geom)) FROM towns t
                             WHERE t.district_code = d.code AND t.valid_to IS NULL)) AS geom
    FROM districts d
    WHERE d.code = :district_code
), candidate AS (
    SELECT ST_SetSRID(ST_GeomFromEWKB(decode(:geom, 'hex')), 4326) AS geom
)
SELECT ST_Intersects(d.geom, c.geom) AS inside,
       ST_Intersects(d.geom, ST_FlipCoordinates(c.geom)) AS swapped,
       CASE WHEN ST_Dimension(c.geom) = 1 THEN ST_Length(c.geom::geography) / 1000 END AS length_km,
       CASE WHEN ST_Dimension(c.geom) = 2 THEN ST_Area(c.geom::geography) / 1e6 END AS area_km2,
       CASE WHEN ST_Dimension(c.geom) = 1 THEN
            CASE WHEN ST_CoveredBy(c.geom, d.geom) THEN 0
                 ELSE ST_Length(ST_Difference(c.geom, d.geom)::geography) / 1000 END END AS outside_km,
       CASE WHEN ST_Dimension(c.geom) = 2 THEN
            CASE WHEN ST_CoveredBy(c.geom, d.geom) THEN 0
                 ELSE ST_Area(ST_Difference(c.geom, d.geom)::geography) / 1e6 END END AS outside_km2
FROM candidate c
LEFT JOIN district d ON true
