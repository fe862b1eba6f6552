-- Profiles computed, one per job.
CREATE TABLE IF NOT EXISTS profiles (
    job_id         uuid PRIMARY KEY,
    dataset_id     uuid        NOT NULL,
    profile_key    text        NOT NULL,
    quality_score  double precision NOT NULL,
    alert_count    integer     NOT NULL,
    row_count      bigint      NOT NULL,
    column_count   integer     NOT NULL,
    target         text,
    profiled_at    timestamptz NOT NULL DEFAULT now()
);
