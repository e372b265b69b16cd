-- Import step 02 (registry.importing). Temp tables read: import_staging; written: import_staging (deletes the rows outside the district).
-- Remove staged rows whose geometry does not touch the district and say why (DESIGN §3):
-- when the flipped geometry would touch it, lng/lat were swapped. The district outline is the
-- loaded one, else the union of its current towns. Returns (row, geom_column, kind).
-- :district_code
WITH district AS (
    SELECT COALESCE(d.geom, (SELECT ST_Multi(ST_Union(t.geom)) FROM towns t
                             WHERE t.district_code = d.code AND t.valid_to IS NULL)) AS geom
    FROM districts d
    WHERE d.code = :district_code
)
DELETE FROM import_staging s
USING district d
WHERE NOT ST_Intersects(d.geom, s.geom)
RETURNING s.row, s.geom_column,
          CASE WHEN ST_Intersects(d.geom, ST_FlipCoordinates(s.geom)) THEN 'swapped_coords'
               ELSE 'outside_jurisdiction' END AS kind
