-- ETL runs, one per analysis job.
CREATE TABLE IF NOT EXISTS etl_runs (
    job_id            uuid PRIMARY KEY,
    dataset_id        uuid        NOT NULL,
    cleaned_key       text        NOT NULL,
    report_key        text        NOT NULL,
    pipeline_key      text        NOT NULL,
    rows_in           bigint      NOT NULL,
    rows_out          bigint      NOT NULL,
    step_count        integer     NOT NULL,
    transformed_at    timestamptz NOT NULL DEFAULT now()
);
