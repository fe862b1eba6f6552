-- The model registry and the analyses ml produced.
CREATE TABLE IF NOT EXISTS analyses (
    job_id          uuid PRIMARY KEY,
    dataset_id      uuid        NOT NULL,
    analysis_key    text        NOT NULL,
    task            text,
    target          text,
    model_id        uuid,
    analysed_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS models (
    model_id            uuid PRIMARY KEY,
    job_id              uuid        NOT NULL,
    dataset_id          uuid        NOT NULL,
    version             integer     NOT NULL,
    task                text        NOT NULL,
    target              text        NOT NULL,
    features            jsonb       NOT NULL,
    metrics             jsonb       NOT NULL,
    training_data_hash  text        NOT NULL,
    config              jsonb       NOT NULL,
    artifact_key        text        NOT NULL,
    artifact_sha256     text        NOT NULL,
    artifact_size       bigint      NOT NULL,
    pipeline_key        text        NOT NULL,
    pipeline_sha256     text        NOT NULL,
    pipeline_size       bigint      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dataset_id, target, version)
);
