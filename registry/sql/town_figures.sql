-- Figures per current town (DESIGN §3), aggregated in one (parallel) pass over project_towns.
-- Money is apportioned by share; counts are of projects with any share in the town.
-- Pipeline km: line projects' length inside the town (project_towns.length_km) by category.
-- Soft-deleted projects are left out; every other stage counts (by_stage tells them apart).
-- :scope_towns text[]    NULL = every town; else only these towns (and only their shares)
-- :scope_districts text[] NULL = every district; else only the towns and shares of these
-- :district_code text    NULL = every district
-- :with_geometry boolean true adds the boundary as GeoJSON text (EPSG:4326, 6 decimals)
WITH town AS (
    SELECT t.id, t.code, t.name, t.district_code, t.area_km2, t.geom
    FROM towns t
    WHERE t.valid_to IS NULL
      AND (CAST(:district_code AS text) IS NULL OR t.district_code = CAST(:district_code AS text))
      AND (CAST(:scope_towns AS text[]) IS NULL OR t.code = ANY(CAST(:scope_towns AS text[])))
      AND (CAST(:scope_districts AS text[]) IS NULL OR t.district_code = ANY(CAST(:scope_districts AS text[])))
), share AS (
    SELECT pt.town_code, p.stage, p.domain_code,
           CASE WHEN pt.length_km IS NOT NULL THEN coalesce(p.category, '未分类') END AS line_category,
           pt.length_km,
           p.total_investment::float8 * pt.share AS total,
           coalesce(p.completed_investment, 0)::float8 * pt.share AS completed
    FROM project_towns pt
    JOIN projects p ON p.id = pt.project_id
    WHERE p.deleted_at IS NULL
      -- the same district and scope as ``town``, on the shares themselves: a semi-join with
      -- ``town`` is misestimated and forces a serial plan (shares of towns that are no longer
      -- current drop out at the final join)
      AND (CAST(:district_code AS text) IS NULL OR pt.district_code = CAST(:district_code AS text))
      AND (CAST(:scope_towns AS text[]) IS NULL OR pt.town_code = ANY(CAST(:scope_towns AS text[])))
      AND (CAST(:scope_districts AS text[]) IS NULL OR pt.district_code = ANY(CAST(:scope_districts AS text[])))
), fine AS (
    -- one parallel hash aggregate down to a row per town, domain and line category (a few per
    -- town and domain: the category is NULL for shares without a length), stages as columns
    -- (the six of ck_projects_stage; tests/test_figures.py holds them to registry.vocab.STAGES)
    SELECT town_code, domain_code, line_category,
           count(*) AS n, sum(total) AS total, sum(completed) AS completed, sum(length_km) AS km,
           count(*) FILTER (WHERE stage = 'reserve') AS reserve,
           count(*) FILTER (WHERE stage = 'approval') AS approval,
           count(*) FILTER (WHERE stage = 'construction') AS construction,
           count(*) FILTER (WHERE stage = 'completed') AS completed_n,
           count(*) FILTER (WHERE stage = 'suspended') AS suspended,
           count(*) FILTER (WHERE stage = 'cancelled') AS cancelled
    FROM share
    GROUP BY town_code, domain_code, line_category
), grouped AS (
    -- three small groupings of that: per town, per town × domain, per town × line category
    SELECT town_code, domain_code, line_category,
           GROUPING(domain_code, line_category) AS level,
           sum(n)::bigint AS n, sum(total) AS total, sum(completed) AS completed, sum(km) AS km,
           sum(reserve)::bigint AS reserve, sum(approval)::bigint AS approval,
           sum(construction)::bigint AS construction, sum(completed_n)::bigint AS completed_n,
           sum(suspended)::bigint AS suspended, sum(cancelled)::bigint AS cancelled
    FROM fine
    GROUP BY GROUPING SETS ((town_code), (town_code, domain_code), (town_code, line_category))
), folded AS (
    SELECT town_code,
           max(n) FILTER (WHERE level = 3) AS project_count,
           max(total) FILTER (WHERE level = 3) AS total_investment,
           max(completed) FILTER (WHERE level = 3) AS completed_investment,
           -- the stages present, as jsonb_object_agg would list them (zero counts left out)
           jsonb_strip_nulls(jsonb_build_object(
               'reserve', nullif(max(reserve) FILTER (WHERE level = 3), 0),
               'approval', nullif(max(approval) FILTER (WHERE level = 3), 0),
               'construction', nullif(max(construction) FILTER (WHERE level = 3), 0),
               'completed', nullif(max(completed_n) FILTER (WHERE level = 3), 0),
               'suspended', nullif(max(suspended) FILTER (WHERE level = 3), 0),
               'cancelled', nullif(max(cancelled) FILTER (WHERE level = 3), 0))) AS by_stage,
           jsonb_object_agg(domain_code, n) FILTER (WHERE level = 1) AS by_domain,
           jsonb_object_agg(line_category, round(km::numeric, 3))
               FILTER (WHERE level = 2 AND line_category IS NOT NULL) AS pipeline_km
    FROM grouped
    GROUP BY town_code
)
SELECT town.code, town.name, town.district_code, town.area_km2,
       coalesce(f.project_count, 0) AS project_count,
       coalesce(f.total_investment, 0) AS total_investment,
       coalesce(f.completed_investment, 0) AS completed_investment,
       coalesce(f.total_investment, 0) / nullif(town.area_km2, 0) AS density,
       f.completed_investment / nullif(f.total_investment, 0) AS completion_rate,
       coalesce(f.by_stage, '{}'::jsonb) AS by_stage,
       coalesce(f.by_domain, '{}'::jsonb) AS by_domain,
       coalesce(f.pipeline_km, '{}'::jsonb) AS pipeline_km,
       CASE WHEN CAST(:with_geometry AS boolean) THEN ST_AsGeoJSON(town.geom, 6) END AS geometry
FROM town
LEFT JOIN folded f ON f.town_code = town.code
ORDER BY town.code
