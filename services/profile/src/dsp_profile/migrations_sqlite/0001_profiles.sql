-- Profiles computed, one per job.
CREATE TABLE IF NOT EXISTS profiles (
    job_id         TEXT PRIMARY KEY,
    dataset_id     TEXT    NOT NULL,
    profile_key    TEXT    NOT NULL,
    quality_score  REAL    NOT NULL,
    alert_count    INTEGER NOT NULL,
    row_count      INTEGER NOT NULL,
    column_count   INTEGER NOT NULL,
    target         TEXT,
    profiled_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS profiles_dataset_idx ON profiles (dataset_id);
