-- The gateway's read model, fed by the events of every stage.
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id     uuid PRIMARY KEY,
    display_name   text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('uploaded', 'ingested', 'profiled', 'rejected', 'failed')),
    size_bytes     bigint      NOT NULL,
    raw            jsonb       NOT NULL,
    parquet        jsonb,
    ingest_report  jsonb,
    profile        jsonb,
    quality_score  double precision,
    row_count      bigint,
    columns        jsonb,
    error          jsonb,
    upload_job_id  uuid        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS datasets_created_idx ON datasets (created_at DESC);

CREATE TABLE IF NOT EXISTS jobs (
    job_id         uuid PRIMARY KEY,
    kind           text        NOT NULL CHECK (kind IN ('upload', 'analysis', 'dashboard')),
    dataset_id     uuid        NOT NULL REFERENCES datasets (dataset_id),
    parent_job_id  uuid,
    status         text        NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    stage          text,
    progress       double precision NOT NULL DEFAULT 0,
    options        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    results        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error_code     text,
    error_message  text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_dataset_idx ON jobs (dataset_id);

CREATE TABLE IF NOT EXISTS job_events (
    event_id       uuid PRIMARY KEY,
    job_id         uuid        NOT NULL,
    routing_key    text        NOT NULL,
    producer       text        NOT NULL,
    payload        jsonb       NOT NULL,
    occurred_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_job_idx ON job_events (job_id, occurred_at);

CREATE TABLE IF NOT EXISTS dashboards (
    dashboard_id   uuid PRIMARY KEY,
    job_id         uuid        NOT NULL,
    dataset_id     uuid        NOT NULL,
    html           jsonb       NOT NULL,
    pdf            jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);
