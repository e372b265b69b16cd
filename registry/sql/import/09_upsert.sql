-- Import step 09 (registry.importing). Temp tables read: import_staging, import_before, match_shares; written: import_written (and projects).
-- Write the staged rows of stored codes into projects, keyed by project code (DESIGN §4
-- re-import); new codes were inserted chunk by chunk (03_insert_new.sql). Only the rows
-- 06_audit_before.sql found to change (or restore) a stored project are written: a row equal to
-- its project is left alone (no new version, no timestamp).
-- Rows for existing codes hold the merged record (blank cells already filled from the stored
-- project), so every column is written; a staged row for a deleted project restores it.
-- The projects were locked in code order before (04_lock.sql); rows go in code order too.
-- Length (lines) and area (polygons) are geodesic. The written projects go to the temp table
-- import_written (01_written.sql): the later steps start from it, never from a scan of
-- projects by import_batch_id, whose selectivity the planner cannot know (a fresh batch id; under
-- row-level security it then multiplied staging × projects in nested loops).
-- The staged rows were matched to towns before (geo.matching.match_staged) unless their geometry
-- stays (import_before.geom_same): the primary town is written here, the shares next
-- (10_project_towns.sql). Every row's project exists and was locked (04_lock.sql), so the
-- INSERT always takes its ON CONFLICT branch.
-- :district_code, :batch_id, :actor
WITH written AS (
    INSERT INTO projects AS p (
        district_code, {{imported}},
        length_km, area_km2, primary_town_code, import_batch_id, created_by, updated_by)
    SELECT :district_code, {{imported|s.@}},
           CASE WHEN ST_Dimension(s.geom) = 1 THEN ST_Length(s.geom::geography) / 1000 END,
           CASE WHEN ST_Dimension(s.geom) = 2 THEN ST_Area(s.geom::geography) / 1e6 END,
           -- a moved project's primary town, looked up by its row (match_shares_key) only for it
           CASE WHEN b.geom_same THEN b.primary_town_code
                ELSE (SELECT m.town_code FROM match_shares m WHERE m.key = s.row AND m.is_primary) END,
           :batch_id, :actor, :actor
    FROM import_staging s
    JOIN import_before b ON b.code = s.code
    ORDER BY s.code
    ON CONFLICT (code) DO UPDATE SET
        district_code = EXCLUDED.district_code, {{changeable|@ = EXCLUDED.@}}, deleted_at = NULL,
        length_km = EXCLUDED.length_km, area_km2 = EXCLUDED.area_km2,
        primary_town_code = EXCLUDED.primary_town_code,
        import_batch_id = EXCLUDED.import_batch_id, updated_by = EXCLUDED.updated_by,
        updated_at = now(), version = p.version + 1
    RETURNING p.id, p.code, (p.xmax = 0) AS inserted
)
INSERT INTO import_written (id, code, inserted)
SELECT id, code, inserted FROM written
