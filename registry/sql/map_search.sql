-- The map's search box: up to :limit projects whose code or name contains :q (case-insensitive),
-- an exact code first, then names that start with :q, then the rest by name. Same columns as the
-- 'feature' rows of map_features.sql. :q text; :limit int;
-- :scope_towns text[] (NULL = the whole registry; else projects with a share in those towns);
-- :scope_districts text[] (NULL = every district; else projects of those districts);
-- :town text (9-digit code, NULL = all).
SELECT 'feature' AS kind, p.id, p.code, p.name, p.domain_code, p.stage, p.total_investment,
       p.completed_investment,
       coalesce(p.length_km, CASE WHEN ST_Dimension(p.geom) = 1 THEN ST_Length(p.geom::geography) / 1e3 END)
           AS length_km,
       coalesce(p.area_km2, CASE WHEN ST_Dimension(p.geom) = 2 THEN ST_Area(p.geom::geography) / 1e6 END)
           AS area_km2,
       ST_AsGeoJSON(p.geom, 6) AS geometry,
       (SELECT jsonb_agg(jsonb_build_object('code', s.town_code, 'name', t.name, 'share', s.share)
                         ORDER BY s.share DESC, s.town_code)
        FROM project_towns s JOIN towns t ON t.id = s.town_id WHERE s.project_id = p.id) AS towns
FROM projects p
WHERE p.deleted_at IS NULL
  AND (strpos(lower(p.code), lower(:q)) > 0 OR strpos(lower(p.name), lower(:q)) > 0)
  AND (CAST(:town AS text) IS NULL OR EXISTS (
        SELECT 1 FROM project_towns s WHERE s.project_id = p.id AND s.town_code = :town))
  AND (CAST(:scope_towns AS text[]) IS NULL OR EXISTS (
        SELECT 1 FROM project_towns s
        WHERE s.project_id = p.id AND s.town_code = ANY(CAST(:scope_towns AS text[]))))
  AND (CAST(:scope_districts AS text[]) IS NULL OR p.district_code = ANY(CAST(:scope_districts AS text[])))
ORDER BY upper(p.code) = upper(:q) DESC, strpos(lower(p.name), lower(:q)) = 1 DESC, p.name, p.id
LIMIT :limit
