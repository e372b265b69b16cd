-- The live projects of one target jurisdiction with their town shares (DESIGN §5a, §9), for
-- registry.target_report to filter and measure. A district's projects are those registered in
-- it; a zone's are those whose geometry meets the zone's boundary (none: no rows).
-- Lengths are each town's geodesic length share (project_towns.length_km), so a line counts
-- only inside the district.
-- :code text             the jurisdiction code (6-digit district or zone code)
-- :zone boolean          true for a zone
-- :scope_towns text[]    NULL = every project; else projects with a share in these towns
-- :scope_districts text[] NULL = every district; else projects of these districts
WITH chosen AS (
    SELECT p.id FROM projects p
    WHERE NOT CAST(:zone AS boolean) AND p.district_code = CAST(:code AS text) AND p.deleted_at IS NULL
    UNION
    SELECT p.id FROM projects p
    JOIN target_jurisdictions j ON j.code = CAST(:code AS text) AND j.geom IS NOT NULL
                               AND ST_Intersects(p.geom, j.geom)
    WHERE CAST(:zone AS boolean) AND p.deleted_at IS NULL
)
SELECT p.id, p.code, p.name, p.domain_code, p.category, p.stage,
       p.total_investment::float8 AS total_investment,
       p.equipment_investment::float8 AS equipment_investment,
       p.completed_investment::float8 AS completed_investment,
       p.quantity::float8 AS quantity, p.unit, p.actual_start, p.actual_end,
       p.primary_town_code, ST_Dimension(p.geom) = 1 AS is_line,
       coalesce((SELECT jsonb_agg(jsonb_build_array(pt.town_code, pt.share, pt.length_km)
                                  ORDER BY pt.town_code)
                 FROM project_towns pt WHERE pt.project_id = p.id), '[]'::jsonb) AS shares
FROM chosen c
JOIN projects p ON p.id = c.id
WHERE (CAST(:scope_towns AS text[]) IS NULL
       OR EXISTS (SELECT 1 FROM project_towns s
                  WHERE s.project_id = p.id AND s.town_code = ANY (CAST(:scope_towns AS text[]))))
  AND (CAST(:scope_districts AS text[]) IS NULL OR p.district_code = ANY (CAST(:scope_districts AS text[])))
ORDER BY p.id
