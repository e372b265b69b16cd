-- Import step 01, per chunk, when the import writes new codes as it stages them (registry.importing's
-- staging worker, after the chunk's COPY, jurisdiction check, town matching and snapshots). Temp
-- tables read: import_staging, match_shares (the chunk's shares), import_new_snapshot; written:
-- import_chunk_written (and projects, project_towns, audit_log).
-- The chunk's rows of new codes are inserted, their town shares and audit entries written, like
-- 09_upsert.sql, 10_project_towns.sql and 11_audit.sql do for the rest after the checks; so on two
-- cores the server writes while Python checks the next chunk. The import holds the new-codes lock
-- (registry.importing._NEW_CODES_LOCK), so no other import inserts codes meanwhile. A code someone
-- registered since its row was validated is left alone (ON CONFLICT DO NOTHING): the caller
-- finds it missing from import_chunk_written and reports the row as an edit_conflict.
-- Separate statements: a row-level security check of project_towns must see the inserted projects.
-- {first}, {last}: the chunk's spreadsheet rows; {district_code}, {batch_id}, {actor}, {filename}
-- (psycopg.sql.Literal)
TRUNCATE import_chunk_written;
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
)
INSERT INTO import_chunk_written (row, id)
SELECT s.row, i.id
FROM inserted i
JOIN import_staging s ON s.code = i.code AND s.row BETWEEN {first} AND {last};

INSERT INTO project_towns (project_id, town_code, district_code, town_id, share, length_km, area_km2)
SELECT w.id, m.town_code, m.district_code, m.town_id, m.share, m.length_km, m.area_km2
FROM import_chunk_written w
JOIN match_shares m ON m.key = w.row;

INSERT INTO audit_log (actor, action, entity, entity_id, district_code, before, after, details)
SELECT {actor}, 'import', 'project', w.id::text, {district_code}, NULL, n.snap,
       jsonb_build_object('batch_id', CAST({batch_id} AS bigint), 'filename', CAST({filename} AS text),
                          'row', s.row)
       || CASE WHEN s.stage_reason IS NOT NULL THEN jsonb_build_object('reason', s.stage_reason)
               ELSE jsonb_build_object() END
FROM import_chunk_written w
JOIN import_staging s ON s.row = w.row
JOIN import_new_snapshot n ON n.row = w.row
ORDER BY w.id;

-- the chunk's rows of new codes that were not inserted, and how many were
SELECT (SELECT count(*) FROM import_chunk_written),
       ARRAY(SELECT s.row FROM import_staging s
             WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL
               AND NOT EXISTS (SELECT 1 FROM import_chunk_written w WHERE w.row = s.row)
             ORDER BY s.row),
       ARRAY(SELECT s.code FROM import_staging s
             WHERE s.row BETWEEN {first} AND {last} AND s.expected_version IS NULL
               AND NOT EXISTS (SELECT 1 FROM import_chunk_written w WHERE w.row = s.row)
             ORDER BY s.row)
