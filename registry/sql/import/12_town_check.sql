-- Import step 12 (registry.importing). Temp tables read: import_staging; written: none.
-- Compare each staged row's declared 所属镇街 (name, short name, 9- or 12-digit code) with the
-- towns its geometry was matched to; the geometry wins, so these are warnings (DESIGN §4).
-- A line or polygon across towns agrees with any town it has a share in; rows in no town at all
-- are returned too (primary_code NULL).
-- Returns rows needing a warning: (row, geom_column, declared_town, declared_code, primary_code, primary_name).
-- :district_code
WITH current_towns AS (
    SELECT code, name FROM towns WHERE district_code = :district_code AND valid_to IS NULL
)
SELECT s.row, s.geom_column, s.declared_town, declared.code AS declared_code,
       p.primary_town_code AS primary_code, actual.name AS primary_name
FROM import_staging s
JOIN projects p ON p.code = s.code
LEFT JOIN towns actual ON actual.code = p.primary_town_code AND actual.valid_to IS NULL
LEFT JOIN (
    -- every way a town may be written, one row each; a name beats a short name
    SELECT DISTINCT ON (label) label, code
    FROM (SELECT t.code AS label, t.code, 0 AS rank FROM current_towns t
          UNION ALL SELECT t.name, t.code, 1 FROM current_towns t
          UNION ALL SELECT regexp_replace(t.name, '(街道|镇|乡)$', ''), t.code, 2 FROM current_towns t) labels
    ORDER BY label, rank, code
) declared ON declared.label = -- a 12-digit land-survey code: geo.admin_codes.town_code's rule
                  CASE WHEN s.declared_town ~ '^\d{9}000$' THEN left(s.declared_town, 9)
                       ELSE s.declared_town END
WHERE p.primary_town_code IS NULL
   OR (s.declared_town IS NOT NULL
       AND (declared.code IS NULL
            OR NOT EXISTS (SELECT 1 FROM project_towns pt
                           WHERE pt.project_id = p.id AND pt.town_code = declared.code)))
ORDER BY s.row
