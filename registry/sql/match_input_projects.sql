-- The projects to (re)match, as match_input rows (key = project id); see compute_shares.sql.
-- :project_ids bigint[] (NULL = every project of :district_code)
INSERT INTO match_input (key, district_code, geom)
SELECT p.id, p.district_code, p.geom
FROM projects p
WHERE CAST(:project_ids AS bigint[]) IS NULL AND p.district_code = :district_code
UNION ALL
SELECT p.id, p.district_code, p.geom
FROM unnest(CAST(:project_ids AS bigint[])) AS ids(id)
JOIN projects p ON p.id = ids.id
