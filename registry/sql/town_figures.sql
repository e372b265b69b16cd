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
           coalesce(p.category, '未分类') AS category,
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
    -- one parallel hash aggregate down to a row per town and category (a few per town), the
    -- stages (ck_projects_stage) and domains (the domains table, registry.vocab.DOMAINS) as
    -- columns: no sort of a row per town × stage × domain × category (167 000 at province scale);
    -- tests/test_figures.py holds these lists to registry.vocab
    SELECT town_code, category,
           count(*) AS n, sum(total) AS total, sum(completed) AS completed,
           count(length_km) AS lines, sum(length_km) AS km,
           count(*) FILTER (WHERE stage = 'reserve') AS s_reserve,
           count(*) FILTER (WHERE stage = 'approval') AS s_approval,
           count(*) FILTER (WHERE stage = 'construction') AS s_construction,
           count(*) FILTER (WHERE stage = 'completed') AS s_completed,
           count(*) FILTER (WHERE stage = 'suspended') AS s_suspended,
           count(*) FILTER (WHERE stage = 'cancelled') AS s_cancelled,
           count(*) FILTER (WHERE domain_code = 'industry') AS d_industry,
           count(*) FILTER (WHERE domain_code = 'agriculture') AS d_agriculture,
           count(*) FILTER (WHERE domain_code = 'transport') AS d_transport,
           count(*) FILTER (WHERE domain_code = 'building') AS d_building,
           count(*) FILTER (WHERE domain_code = 'municipal') AS d_municipal,
           count(*) FILTER (WHERE domain_code = 'education') AS d_education,
           count(*) FILTER (WHERE domain_code = 'culture_tourism') AS d_culture_tourism,
           count(*) FILTER (WHERE domain_code = 'sports') AS d_sports,
           count(*) FILTER (WHERE domain_code = 'medical') AS d_medical,
           count(*) FILTER (WHERE domain_code = 'recycling') AS d_recycling
    FROM share
    GROUP BY town_code, category
), folded AS (
    SELECT town_code, sum(n)::bigint AS project_count, sum(total) AS total_investment,
           sum(completed) AS completed_investment,
           -- the stages and domains present, as jsonb_object_agg would list them (zeros left out)
           jsonb_strip_nulls(jsonb_build_object(
               'reserve', nullif(sum(s_reserve), 0)::bigint,
               'approval', nullif(sum(s_approval), 0)::bigint,
               'construction', nullif(sum(s_construction), 0)::bigint,
               'completed', nullif(sum(s_completed), 0)::bigint,
               'suspended', nullif(sum(s_suspended), 0)::bigint,
               'cancelled', nullif(sum(s_cancelled), 0)::bigint)) AS by_stage,
           jsonb_strip_nulls(jsonb_build_object(
               'industry', nullif(sum(d_industry), 0)::bigint,
               'agriculture', nullif(sum(d_agriculture), 0)::bigint,
               'transport', nullif(sum(d_transport), 0)::bigint,
               'building', nullif(sum(d_building), 0)::bigint,
               'municipal', nullif(sum(d_municipal), 0)::bigint,
               'education', nullif(sum(d_education), 0)::bigint,
               'culture_tourism', nullif(sum(d_culture_tourism), 0)::bigint,
               'sports', nullif(sum(d_sports), 0)::bigint,
               'medical', nullif(sum(d_medical), 0)::bigint,
               'recycling', nullif(sum(d_recycling), 0)::bigint)) AS by_domain,
           -- shares of a domain not listed above (none while the domains table is registry.vocab's)
           sum(n - (d_industry + d_agriculture + d_transport + d_building + d_municipal + d_education
                    + d_culture_tourism + d_sports + d_medical + d_recycling))::bigint AS unlisted,
           -- a category's line length where any of its shares has one
           jsonb_object_agg(category, round(km::numeric, 3)) FILTER (WHERE lines > 0) AS pipeline_km
    FROM fine
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
       coalesce(f.pipeline_km, '{}'::jsonb) AS pipeline_km, coalesce(f.unlisted, 0) AS unlisted_domains,
       CASE WHEN CAST(:with_geometry AS boolean) THEN ST_AsGeoJSON(town.geom, 6) END AS geometry
FROM town
LEFT JOIN folded f ON f.town_code = town.code
ORDER BY town.code
