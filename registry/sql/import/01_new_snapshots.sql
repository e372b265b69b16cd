-- Import step 01, per chunk (registry.importing's staging worker, right after the chunk's COPY and
-- town matching). Temp tables read: import_staging, match_shares (the chunk's shares, geo.matching.add_shares); written: import_new_snapshot.
-- The audit snapshot (05_audit_snapshot.sql's shape) each staged row of a new code will have once
-- inserted: its staged fields, the primary town just matched, not deleted, the geometry as WKT
-- (EPSG:4326, 7 decimals). Computed while Python checks the next chunk, so that 11_audit.sql
-- only joins it for the projects it inserted instead of building 100 000 snapshots from projects
-- after the upsert. Rows rejected or overtaken later are simply never joined.
-- {first}, {last}: the chunk's spreadsheet rows (psycopg.sql.Literal)
INSERT INTO import_new_snapshot (row, snap)
SELECT s.row, to_jsonb(r)
FROM import_staging s
LEFT JOIN match_shares m ON m.key = s.row AND m.is_primary
CROSS JOIN LATERAL (SELECT s.code, {{changeable_snapshot|s.@}}, m.town_code AS primary_town_code,
                           CAST(NULL AS timestamptz) AS deleted_at,
                           ST_AsText(ST_SetSRID(s.geom, 4326), 7) AS geometry) r
WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL
