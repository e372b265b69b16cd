-- The import's staged rows as match_input rows (key = spreadsheet row); see compute_shares.sql.
-- Only rows whose location is new: new codes and changed projects whose geometry (or district)
-- changes (import_before.geom_same false). Unchanged rows and kept geometries keep their shares.
-- :district_code
INSERT INTO match_input (key, district_code, geom)
SELECT s.row, :district_code, ST_SetSRID(s.geom, 4326)
FROM import_staging s
LEFT JOIN import_before b ON b.code = s.code
WHERE CASE WHEN b.id IS NOT NULL THEN NOT b.geom_same ELSE s.expected_version IS NULL END
