-- Import step 01 (registry.importing). Temp tables read: none; written: import_staging (creates it).
-- The staging table of one import: the parsed, Python-validated rows, filled by COPY.
-- Column types match projects so that "unchanged" comparisons are exact. A row for an existing
-- code holds the merged record (registry.import_rows): the stored values it does not change.
-- expected_version: the version the row was validated against (NULL = a new code); restore: the
-- row brings a soft-deleted project back; stage_reason: why the stage moves backward (audited).
-- Dropped at commit.
CREATE TEMP TABLE import_staging (
    row integer PRIMARY KEY,
    code varchar(24) NOT NULL,
    name text NOT NULL,
    domain_code varchar(32) NOT NULL,
    category text,
    owner text NOT NULL,
    credit_code varchar(18),
    declared_town text,
    address text,
    geom geometry NOT NULL,
    geom_column text,
    source_crs varchar(10) NOT NULL,
    total_investment numeric(14, 2) NOT NULL,
    equipment_investment numeric(14, 2),
    completed_investment numeric(14, 2),
    funding text[] NOT NULL,
    stage varchar(16) NOT NULL,
    planned_start date,
    planned_end date,
    actual_start date,
    actual_end date,
    lead_unit text,
    responsible_units text[] NOT NULL,
    is_key boolean NOT NULL,
    quantity numeric(16, 3),
    unit text,
    remarks text,
    stage_before_suspension varchar(16),
    stage_reason text,
    expected_version integer,
    restore boolean NOT NULL
) ON COMMIT DROP
