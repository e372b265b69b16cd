-- The town shares of the projects this import inserted or changed (import_batch_id = :batch_id),
-- from the shares computed for their staged rows (match_shares, key = spreadsheet row).
-- Unchanged rows keep theirs; shares of changed rows were removed before.
-- :batch_id
INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
SELECT p.id, m.town_code, m.district_code, m.town_id, m.share, m.length_km, m.area_km2
FROM match_shares m
JOIN import_staging s ON s.row = m.key
JOIN projects p ON p.code = s.code
WHERE p.import_batch_id = :batch_id
