-- What ingest knows of each dataset it read.
CREATE TABLE IF NOT EXISTS ingested_datasets (
    dataset_id     uuid PRIMARY KEY,
    job_id         uuid        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('ingested', 'rejected')),
    row_count      bigint,
    column_count   integer,
    parquet_key    text,
    report_key     text,
    error_code     text,
    error_message  text,
    ingested_at    timestamptz NOT NULL DEFAULT now()
);
