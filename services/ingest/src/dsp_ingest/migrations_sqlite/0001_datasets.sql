-- What ingest knows of each dataset it read.
CREATE TABLE IF NOT EXISTS ingested_datasets (
    dataset_id     TEXT PRIMARY KEY,
    job_id         TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('ingested', 'rejected')),
    row_count      INTEGER,
    column_count   INTEGER,
    parquet_key    TEXT,
    report_key     TEXT,
    error_code     TEXT,
    error_message  TEXT,
    ingested_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
