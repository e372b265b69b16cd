-- The import's staged rows as match_input rows (key = spreadsheet row); see compute_shares.sql.
-- :district_code
INSERT INTO match_input (key, district_code, geom)
SELECT s.row, :district_code, ST_SetSRID(s.geom, 4326)
FROM import_staging s
