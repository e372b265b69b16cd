-- Import step 03, per chunk (registry.importing's staging worker, after 02_reject_outside.sql). Temp tables read: import_staging, import_district; written: none.
-- The chunk's staged lines and polygons that lie partly outside the district (DESIGN §4,
-- partly_outside): the geodesic length (km) or area (km²) of the part outside. Every row left
-- touches the district; points that touch it lie in it. Rows that keep their stored geometry are
-- not checked again. Returns (row, geom_column, outside_km, outside_km2).
-- {first}, {last}: the chunk's spreadsheet rows (psycopg.sql.Literal)
SELECT s.row, s.geom_column,
       CASE WHEN ST_Dimension(s.geom) = 1
            THEN ST_Length(ST_Difference(s.geom, d.geom)::geography) / 1000 END AS outside_km,
       CASE WHEN ST_Dimension(s.geom) = 2
            THEN ST_Area(ST_Difference(s.geom, d.geom)::geography) / 1e6 END AS outside_km2
FROM import_staging s
CROSS JOIN import_district d
WHERE s.row BETWEEN {first} AND {last}
  AND ST_Dimension(s.geom) > 0 AND s.geom_column IS NOT NULL AND NOT ST_CoveredBy(s.geom, d.geom)
ORDER BY s.row
