-- Remove the town shares of the projects about to be matched again (see match_towns.sql).
DELETE FROM project_towns pt
USING projects p
WHERE pt.project_id = p.id
  AND ((CAST(:project_ids AS bigint[]) IS NULL AND p.district_code = :district_code)
       OR p.id = ANY(CAST(:project_ids AS bigint[])))
