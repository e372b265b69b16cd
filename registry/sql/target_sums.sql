-- The figures of one measure (metric, filter, windows) over several jurisdictions of one kind at
-- once, summed in PostgreSQL (DESIGN §5a, §9): the same rules as registry.target_measures applied
-- by registry.target_report per project, in one set-based pass grouped by jurisdiction (a
-- province's 136 district targets of one measure: one statement, not 136).
-- Each jurisdiction's live projects as in target_projects.sql ({area} is one of
-- registry.target_sums.AREAS: a district's, a zone's by boundary, a city's or province's as its
-- districts'; {jc} the jurisdiction code it gives each project — a project inside two zones counts
-- in both); then the filter, the counting date, the window, the problem kind and each project's
-- total and per-town parts.
-- Rows out, each with jc (the jurisdiction code):
--   kind 'total'  w, amount                the window's value (the scope's part)
--   kind 'town'   w = :current, town, amount the current window's per-town split
--   kind 'undated' | 'unit_mismatch' | 'unmeasured'   id, code, name, unit: one row per project
-- :codes text[]          the jurisdictions' codes (all of the kind of {area})
-- :scope_towns, :scope_districts   as in target_projects.sql (the scope)
-- :metric text            count | sum_*_investment | growth_vs_baseline | sum_quantity | sum_length_km
-- :domains, :categories, :stages text[]   the filter (NULL domains/categories: any)
-- :min_total float8       minimum total investment (NULL: none)
-- :by_end boolean         count by actual_end (only 竣工投产 counts), else actual_start
-- :lo, :hi date           the windows' span (contiguous, clipped at the as-of date)
-- :per_year boolean       windows are calendar years (w = the year), else one window (w = 0)
-- :current int            the last window's w
-- :units_ok text[]        stored units that agree with the target's (NULL: any unit agrees)
-- :km_units text[]        units that make 数量 a length in km
WITH classified AS (  -- the counted or listed projects, narrow: what the sums below need
    SELECT m.jc, m.id, m.primary_town_code, m.w, m.kind,
           CASE m.kind WHEN 'count' THEN 1.0 WHEN 'money' THEN coalesce(m.money, 0) ELSE m.quantity END AS amount
    FROM (
        SELECT {jc} AS jc, p.id, p.primary_town_code, p.quantity::float8 AS quantity,
               CASE CAST(:metric AS text)
                   WHEN 'sum_total_investment' THEN p.total_investment
                   WHEN 'sum_completed_investment' THEN p.completed_investment
                   ELSE p.equipment_investment END::float8 AS money,
               CASE WHEN CAST(:per_year AS boolean) THEN extract(year FROM x.day)::int ELSE 0 END AS w,
               CASE WHEN x.day IS NULL THEN 'undated'
                    WHEN CAST(:metric AS text) = 'sum_quantity' THEN
                        CASE WHEN CAST(:units_ok AS text[]) IS NOT NULL
                                  AND NOT coalesce(p.unit = ANY (CAST(:units_ok AS text[])), false) THEN 'unit_mismatch'
                             WHEN p.quantity IS NULL THEN 'unmeasured'
                             ELSE 'share' END
                    WHEN CAST(:metric AS text) = 'sum_length_km' THEN
                        CASE WHEN ST_Dimension(p.geom) = 1 THEN 'line'
                             WHEN p.quantity IS NOT NULL
                                  AND btrim(coalesce(p.unit, ''), E' \t\n\r\f\x0B\u3000') = ANY (CAST(:km_units AS text[]))
                                  THEN 'share'
                             ELSE 'unmeasured' END
                    WHEN CAST(:metric AS text) = 'count' THEN 'count'
                    ELSE 'money' END AS kind
        FROM projects p
        {area}
        CROSS JOIN LATERAL (SELECT CASE WHEN CAST(:by_end AS boolean) THEN p.actual_end
                                        ELSE p.actual_start END AS day) x
        WHERE p.deleted_at IS NULL AND p.stage = ANY (CAST(:stages AS text[]))
          AND (x.day IS NULL OR x.day BETWEEN CAST(:lo AS date) AND CAST(:hi AS date))
          AND (CAST(:domains AS text[]) IS NULL OR p.domain_code = ANY (CAST(:domains AS text[])))
          AND (CAST(:categories AS text[]) IS NULL
               OR btrim(coalesce(p.category, ''), E' \t\n\r\f\x0B\u3000') = ANY (CAST(:categories AS text[])))
          AND (CAST(:min_total AS float8) IS NULL
               OR coalesce(p.total_investment, 0)::float8 >= CAST(:min_total AS float8))
          AND (CAST(:scope_towns AS text[]) IS NULL
               OR EXISTS (SELECT 1 FROM project_towns s
                          WHERE s.project_id = p.id AND s.town_code = ANY (CAST(:scope_towns AS text[]))))
          AND (CAST(:scope_districts AS text[]) IS NULL OR p.district_code = ANY (CAST(:scope_districts AS text[])))
    ) m
),
parts AS (  -- each counted project's part in each town
    SELECT c.jc, c.w, c.primary_town_code AS town, 1.0::float8 AS amount
    FROM classified c WHERE c.kind = 'count' AND c.primary_town_code IS NOT NULL
    UNION ALL
    SELECT c.jc, c.w, pt.town_code,
           CASE WHEN c.kind = 'line' THEN coalesce(pt.length_km, 0) ELSE c.amount * pt.share END
    FROM classified c JOIN project_towns pt ON pt.project_id = c.id
    WHERE c.kind IN ('money', 'share', 'line')
      AND (CAST(:scope_towns AS text[]) IS NOT NULL OR c.w = CAST(:current AS int))
)
-- totals summed exactly (numeric of each float's 15 digits): the same value however the rows are
-- ordered, batched or split over parallel workers
SELECT 'total' AS kind, jc, w, NULL AS town, sum(amount::numeric)::float8 AS amount,
       NULL::bigint AS id, NULL AS code, NULL AS name, NULL AS unit
FROM (SELECT c.jc, c.w, CASE WHEN c.kind = 'line'
                       THEN (SELECT coalesce(sum(coalesce(pt.length_km, 0)), 0)
                             FROM project_towns pt WHERE pt.project_id = c.id)
                       ELSE c.amount END AS amount
      FROM classified c
      WHERE CAST(:scope_towns AS text[]) IS NULL AND c.kind IN ('count', 'money', 'share', 'line')) unlimited
GROUP BY jc, w
UNION ALL
SELECT 'total', jc, w, NULL, sum(amount::numeric)::float8, NULL, NULL, NULL, NULL
FROM parts WHERE CAST(:scope_towns AS text[]) IS NOT NULL AND town = ANY (CAST(:scope_towns AS text[]))
GROUP BY jc, w
UNION ALL
SELECT 'town', jc, w, town, sum(amount), NULL, NULL, NULL, NULL
FROM parts WHERE w = CAST(:current AS int)
  AND (CAST(:scope_towns AS text[]) IS NULL OR town = ANY (CAST(:scope_towns AS text[])))
GROUP BY jc, w, town
UNION ALL
SELECT c.kind, c.jc, NULL, NULL, NULL, p.id, p.code, p.name, p.unit
FROM classified c JOIN projects p ON p.id = c.id
WHERE c.kind IN ('undated', 'unit_mismatch', 'unmeasured')
