-- ETL runs, one per analysis job.
CREATE TABLE IF NOT EXISTS etl_runs (
    job_id            TEXT PRIMARY KEY,
    dataset_id        TEXT    NOT NULL,
    cleaned_key       TEXT    NOT NULL,
    report_key        TEXT    NOT NULL,
    pipeline_key      TEXT    NOT NULL,
    rows_in           INTEGER NOT NULL,
    rows_out          INTEGER NOT NULL,
    step_count        INTEGER NOT NULL,
    transformed_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS etl_runs_dataset_idx ON etl_runs (dataset_id);
