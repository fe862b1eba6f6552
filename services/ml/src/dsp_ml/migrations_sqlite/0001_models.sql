-- The model registry and the analyses ml produced.
CREATE TABLE IF NOT EXISTS analyses (
    job_id          TEXT PRIMARY KEY,
    dataset_id      TEXT NOT NULL,
    analysis_key    TEXT NOT NULL,
    task            TEXT,
    target          TEXT,
    model_id        TEXT,
    analysed_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS analyses_dataset_idx ON analyses (dataset_id);

CREATE TABLE IF NOT EXISTS models (
    model_id            TEXT PRIMARY KEY,
    job_id              TEXT    NOT NULL,
    dataset_id          TEXT    NOT NULL,
    version             INTEGER NOT NULL,
    task                TEXT    NOT NULL,
    target              TEXT    NOT NULL,
    features            TEXT    NOT NULL,
    metrics             TEXT    NOT NULL,
    training_data_hash  TEXT    NOT NULL,
    config              TEXT    NOT NULL,
    artifact_key        TEXT    NOT NULL,
    artifact_sha256     TEXT    NOT NULL,
    artifact_size       INTEGER NOT NULL,
    pipeline_key        TEXT    NOT NULL,
    pipeline_sha256     TEXT    NOT NULL,
    pipeline_size       INTEGER NOT NULL,
    reference_key       TEXT,
    reference_sha256    TEXT,
    reference_size      INTEGER,
    manifest_sha256     TEXT,
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (dataset_id, target, version)
);
