-- Import step 03, per chunk (registry.importing's staging worker, after the chunk's town matching,
-- geo.matching.add_shares). Temp tables read: import_staging, match_shares (the chunk's shares);
-- written: import_chunk_new, import_written (and projects, project_towns, audit_log).
-- The chunk's new codes (expected_version NULL) are written as soon as they are checked: on two
-- cores the server inserts them, their town shares and their audit entries while Python checks the
-- next chunk, instead of after the last one. Each is a project like 09_upsert.sql makes (geodesic
-- length or area, the primary town just matched, the import batch), its shares (10's shape) and
-- one audit entry, before NULL → after its snapshot (05_audit_snapshot.sql's shape: staged fields,
-- primary town, not deleted, geometry as WKT, 7 decimals; test_import_changed_rows checks the two
-- agree). The whole import is one transaction: a rejected or dry-run import rolls these back too.
-- ON CONFLICT DO NOTHING: a code someone registered after the row was checked (committed, or
-- committed while this waited for it) is never overwritten; 03_overtaken.sql takes its row out.
-- Three statements, one round trip; each sees the one before (row-level security checks the
-- shares against the projects just inserted).
-- {first}, {last}, {district_code}, {batch_id}, {actor}, {filename}: psycopg.sql.Literal
TRUNCATE import_chunk_new;

WITH inserted AS (
    INSERT INTO projects AS p (
        district_code, {{imported}},
        length_km, area_km2, primary_town_code, import_batch_id, created_by, updated_by)
    SELECT {district_code}, {{imported|s.@}},
           CASE WHEN ST_Dimension(s.geom) = 1 THEN ST_Length(s.geom::geography) / 1000 END,
           CASE WHEN ST_Dimension(s.geom) = 2 THEN ST_Area(s.geom::geography) / 1e6 END,
           m.town_code, {batch_id}, {actor}, {actor}
    FROM import_staging s
    LEFT JOIN match_shares m ON m.key = s.row AND m.is_primary
    WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL
    ORDER BY s.code
    ON CONFLICT (code) DO NOTHING
    RETURNING p.id, p.code
), listed AS (
    INSERT INTO import_written (id, code, inserted)
    SELECT id, code, true FROM inserted
)
INSERT INTO import_chunk_new (id, row)
SELECT i.id, s.row
FROM inserted i
JOIN import_staging s ON s.code = i.code AND s.row BETWEEN {first} AND {last};

INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
SELECT c.id, m.town_code, m.district_code, m.town_id, m.share, m.length_km, m.area_km2
FROM import_chunk_new c
JOIN match_shares m ON m.key = c.row;

INSERT INTO audit_log (actor, action, entity, entity_id, district_code, before, after, details)
SELECT {actor}, 'import', 'project', c.id::text, {district_code}, NULL, to_jsonb(r),
       jsonb_build_object('batch_id', {batch_id}, 'filename', {filename}, 'row', s.row)
       || CASE WHEN s.stage_reason IS NOT NULL THEN jsonb_build_object('reason', s.stage_reason)
               ELSE jsonb_build_object() END
FROM import_chunk_new c
-- the chunk's rows by their range: the planner, without statistics, scanned every staged row
JOIN import_staging s ON s.row = c.row AND s.row BETWEEN {first} AND {last}
LEFT JOIN match_shares m ON m.key = s.row AND m.is_primary
CROSS JOIN LATERAL (SELECT s.code, {{changeable_snapshot|s.@}}, m.town_code AS primary_town_code,
                           CAST(NULL AS timestamptz) AS deleted_at,
                           ST_AsText(ST_SetSRID(s.geom, 4326), 7) AS geometry) r
ORDER BY c.id
