-- Remove the town shares of the projects about to be matched again (see match_towns.sql).
DELETE FROM project_towns pt
USING (
    SELECT p.id FROM projects p
    WHERE CAST(:project_ids AS bigint[]) IS NULL AND p.district_code = :district_code
    UNION ALL
    SELECT unnest(CAST(:project_ids AS bigint[]))
) AS target(id)
WHERE pt.project_id = target.id
