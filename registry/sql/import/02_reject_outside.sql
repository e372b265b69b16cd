-- Import step 02, per chunk (registry.importing's staging worker, right after the chunk's COPY). Temp tables read: import_staging, import_district; written: import_staging (deletes the rows outside the district).
-- Remove the chunk's staged rows whose geometry does not touch the district and say why
-- (DESIGN §3): when the flipped geometry would touch it, lng/lat were swapped.
-- Returns (row, geom_column, kind).
-- {first}, {last}: the chunk's spreadsheet rows (psycopg.sql.Literal)
DELETE FROM import_staging s
USING import_district d
WHERE s.row BETWEEN {first} AND {last} AND NOT ST_Intersects(d.geom, s.geom)
RETURNING s.row, s.geom_column,
          CASE WHEN ST_Intersects(d.geom, ST_FlipCoordinates(s.geom)) THEN 'swapped_coords'
               ELSE 'outside_jurisdiction' END AS kind
