-- Roll-up figures (issue 14): per district, per city and for the whole jurisdiction asked, in one
-- statement: one pass over the projects grouped by district, then GROUPING SETS over the few
-- district rows (district → city → province). Every district of the jurisdiction the scope may see
-- is listed, with or without projects. Money is each project's whole investment, counted in its own
-- district (projects.district_code), as ``registry.figures.totals`` counts it for a district scope.
-- :level text             'province' | 'city'
-- :code text              2-digit province or 4-digit city code
-- :scope_districts text[] NULL = every district; else only these
-- :with_geometry boolean  true adds each district's outline, simplified by :tolerance (degrees)
-- The condition below (filled by registry.sqlfiles.with_condition): WHERE clauses on projects, the
-- filters' (ProjectFilters); the scope is that of the districts (town-limited scopes are refused).
WITH district AS (
    SELECT d.code, d.name, d.city_code, d.province_code, d.geom,
           coalesce(d.area_km2, ST_Area(d.geom::geography) / 1e6) AS area_km2
    FROM districts d
    WHERE CASE CAST(:level AS text) WHEN 'province' THEN d.province_code = CAST(:code AS text)
                                    ELSE d.city_code = CAST(:code AS text) END
      AND (CAST(:scope_districts AS text[]) IS NULL OR d.code = ANY(CAST(:scope_districts AS text[])))
), per_district AS (
    SELECT projects.district_code, count(*) AS n, sum(projects.total_investment::float8) AS total,
           sum(coalesce(projects.completed_investment, 0)::float8) AS completed
    FROM projects
    WHERE projects.district_code IN (SELECT code FROM district) AND {condition}
    GROUP BY projects.district_code
), grouped AS (
    SELECT d.province_code, d.city_code, d.code, GROUPING(d.city_code, d.code) AS grouping_level,
           count(*) AS district_count, coalesce(sum(f.n), 0)::bigint AS project_count,
           coalesce(sum(f.total), 0) AS total_investment, coalesce(sum(f.completed), 0) AS completed_investment,
           sum(d.area_km2) AS area_km2
    FROM district d
    LEFT JOIN per_district f ON f.district_code = d.code
    GROUP BY GROUPING SETS ((d.province_code, d.city_code, d.code), (d.province_code, d.city_code),
                            (d.province_code))
)
SELECT CASE g.grouping_level WHEN 0 THEN 'district' WHEN 1 THEN 'city' ELSE 'province' END AS kind,
       g.province_code, g.city_code, g.code, d.name, g.district_count, g.project_count,
       g.total_investment, g.completed_investment, g.area_km2,
       g.total_investment / nullif(g.area_km2, 0) AS density,
       g.completed_investment / nullif(g.total_investment, 0) AS completion_rate,
       CASE WHEN CAST(:with_geometry AS boolean) AND g.grouping_level = 0
            THEN ST_AsGeoJSON(ST_SimplifyPreserveTopology(d.geom, CAST(:tolerance AS float8)), 4) END AS geometry
FROM grouped g
LEFT JOIN district d ON g.grouping_level = 0 AND d.code = g.code
ORDER BY g.grouping_level DESC, g.province_code, g.city_code, g.code
