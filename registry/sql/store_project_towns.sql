-- Write the computed shares of the projects in match_input (key = project id) and set their
-- primary town where it changed (a project in no town gets NULL). Run after
-- clear_project_towns.sql (a DELETE and an INSERT of the same keys cannot share one snapshot).
WITH inserted AS (
    INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
    SELECT key, town_code, district_code, town_id, share, length_km, area_km2
    FROM match_shares
)
UPDATE projects p
SET primary_town_code = best.town_code
FROM match_input m LEFT JOIN match_shares best ON best.key = m.key AND best.is_primary
WHERE p.id = m.key
  AND p.primary_town_code IS DISTINCT FROM best.town_code
