-- Comparisons of two datasets (as migrations/0009): jobs of kind 'comparison', which name dataset B in dataset_id_b.
-- SQLite cannot change a CHECK constraint: the table is rebuilt with the same rows and columns
-- (0008's cancellation included; nothing references jobs).
CREATE TABLE jobs_0009 (
    job_id           TEXT PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('upload', 'analysis', 'dashboard', 'comparison')),
    dataset_id       TEXT    NOT NULL REFERENCES datasets (dataset_id),
    dataset_id_b     TEXT    REFERENCES datasets (dataset_id),
    parent_job_id    TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    stage            TEXT,
    progress         REAL    NOT NULL DEFAULT 0,
    options          TEXT    NOT NULL DEFAULT '{}',
    results          TEXT    NOT NULL DEFAULT '{}',
    error_code       TEXT,
    error_message    TEXT,
    organization_id  TEXT    NOT NULL,
    owner_id         TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    cancellation     TEXT
);
INSERT INTO jobs_0009 (job_id, kind, dataset_id, parent_job_id, status, stage, progress, options, results, error_code,
                       error_message, organization_id, owner_id, created_at, updated_at, cancellation)
SELECT job_id, kind, dataset_id, parent_job_id, status, stage, progress, options, results, error_code, error_message,
       organization_id, owner_id, created_at, updated_at, cancellation FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_0009 RENAME TO jobs;
CREATE INDEX IF NOT EXISTS jobs_dataset_idx ON jobs (dataset_id);
CREATE INDEX IF NOT EXISTS jobs_dataset_b_idx ON jobs (dataset_id_b) WHERE dataset_id_b IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_owner_idx ON jobs (owner_id);
CREATE INDEX IF NOT EXISTS jobs_org_active_analyses_idx ON jobs (organization_id)
 WHERE kind = 'analysis' AND status IN ('queued', 'running');
