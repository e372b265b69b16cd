-- Import step 10 (registry.importing). Temp tables read: import_written, import_staging, match_shares; written: none (project_towns).
-- The town shares of the projects this import changed (import_written; the inserted ones got
-- theirs chunk by chunk, 03_insert_new.sql), from the
-- shares computed for their staged rows (match_shares, key = spreadsheet row). Unchanged rows keep
-- theirs; shares of changed rows were removed before. No scan of projects: under row-level
-- security its estimates are unreliable.
INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
SELECT w.id, m.town_code, m.district_code, m.town_id, m.share, m.length_km, m.area_km2
FROM import_written w
JOIN import_staging s ON s.code = w.code
JOIN match_shares m ON m.key = s.row
WHERE NOT w.inserted
