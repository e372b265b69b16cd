-- The import's staged rows as match_input rows (key = spreadsheet row); see compute_shares.sql.
-- Only stored projects whose geometry (or district) changes (import_before.geom_same false):
-- rows of new codes (expected_version NULL) were matched as they were staged
-- (registry.importing, geo.matching.add_shares). Unchanged rows and kept geometries keep their
-- shares.
-- :district_code
INSERT INTO match_input (key, district_code, geom)
SELECT s.row, :district_code, ST_SetSRID(s.geom, 4326)
FROM import_staging s
JOIN import_before b ON b.code = s.code
WHERE NOT b.geom_same AND s.expected_version IS NOT NULL
