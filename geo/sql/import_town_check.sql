-- Compare each staged row's declared 所属镇街 (name, short name, 9- or 12-digit code) with the
-- towns its geometry was matched to; the geometry wins, so these are warnings (DESIGN §4).
-- A line or polygon across towns agrees with any town it has a share in; rows in no town at all
-- are returned too (primary_code NULL).
-- Returns rows needing a warning: (row, geom_column, declared_town, declared_code, primary_code, primary_name).
-- :district_code
SELECT s.row, s.geom_column, s.declared_town, declared.code AS declared_code,
       p.primary_town_code AS primary_code, actual.name AS primary_name
FROM import_staging s
JOIN projects p ON p.code = s.code
LEFT JOIN towns actual ON actual.code = p.primary_town_code AND actual.valid_to IS NULL
LEFT JOIN LATERAL (
    SELECT t.code
    FROM towns t
    WHERE t.district_code = :district_code AND t.valid_to IS NULL
      AND (t.code = s.declared_town
           OR (s.declared_town ~ '^\d{12}$' AND t.code = left(s.declared_town, 9))
           OR t.name = s.declared_town
           OR regexp_replace(t.name, '(街道|镇|乡)$', '') = s.declared_town)
    ORDER BY t.name = s.declared_town DESC, t.code
    LIMIT 1
) declared ON true
WHERE p.primary_town_code IS NULL
   OR (s.declared_town IS NOT NULL
       AND (declared.code IS NULL
            OR NOT EXISTS (SELECT 1 FROM project_towns pt
                           WHERE pt.project_id = p.id AND pt.town_code = declared.code)))
ORDER BY s.row
