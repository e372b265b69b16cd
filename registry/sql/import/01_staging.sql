-- Import step 01 (registry.importing). Temp tables read: none; written: import_staging (creates it).
-- The staging table of one import: the parsed, Python-validated rows, filled by COPY.
-- Column types match projects (registry.fields declares both) so that "unchanged" comparisons
-- are exact. A row for an existing code holds the merged record (registry.import_rows): the
-- stored values it does not change.
-- expected_version: the version the row was validated against (NULL = a new code); restore: the
-- row brings a soft-deleted project back; stage_reason: why the stage moves backward (audited).
-- Dropped at commit.
CREATE TEMP TABLE import_staging (
    row integer PRIMARY KEY,
    -- the imported fields (registry.fields)
    {{staging_columns}},
    -- the import's own: the column the location came from, why the stage moves backward
    geom_column text,
    stage_reason text,
    expected_version integer,
    restore boolean NOT NULL
) ON COMMIT DROP
