-- The gateway's tables in its embedded SQLite database (dsp serve): the same rows as the Postgres schema
-- (migrations/0001-0005). uuids are text, JSON is text, timestamps are ISO 8601 text in UTC written by the
-- repository (fixed width, so they sort as they compare), booleans are 0/1. Case-insensitive lookups use
-- a key column the repository fills with the lower-cased value (SQLite's own lower() knows only ASCII).

-- read model
CREATE TABLE IF NOT EXISTS datasets (
    dataset_id       TEXT PRIMARY KEY,
    display_name     TEXT    NOT NULL,
    name_key         TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('uploaded', 'ingested', 'profiled', 'rejected', 'failed')),
    size_bytes       INTEGER NOT NULL,
    raw              TEXT    NOT NULL,
    parquet          TEXT,
    ingest_report    TEXT,
    profile          TEXT,
    quality_score    REAL,
    row_count        INTEGER,
    columns          TEXT,
    error            TEXT,
    upload_job_id    TEXT    NOT NULL,
    organization_id  TEXT    NOT NULL,
    owner_id         TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_org_created_idx ON datasets (organization_id, created_at DESC, dataset_id);
CREATE INDEX IF NOT EXISTS datasets_owner_idx ON datasets (owner_id);
CREATE INDEX IF NOT EXISTS datasets_created_idx ON datasets (created_at);

CREATE TABLE IF NOT EXISTS jobs (
    job_id           TEXT PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('upload', 'analysis', 'dashboard')),
    dataset_id       TEXT    NOT NULL REFERENCES datasets (dataset_id),
    parent_job_id    TEXT,
    status           TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    stage            TEXT,
    progress         REAL    NOT NULL DEFAULT 0,
    options          TEXT    NOT NULL DEFAULT '{}',
    results          TEXT    NOT NULL DEFAULT '{}',
    error_code       TEXT,
    error_message    TEXT,
    organization_id  TEXT    NOT NULL,
    owner_id         TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_dataset_idx ON jobs (dataset_id);
CREATE INDEX IF NOT EXISTS jobs_owner_idx ON jobs (owner_id);
CREATE INDEX IF NOT EXISTS jobs_org_active_analyses_idx ON jobs (organization_id)
 WHERE kind = 'analysis' AND status IN ('queued', 'running');

CREATE TABLE IF NOT EXISTS job_events (
    event_id     TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    producer     TEXT NOT NULL,
    payload      TEXT NOT NULL,
    occurred_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_job_idx ON job_events (job_id, occurred_at);

CREATE TABLE IF NOT EXISTS dashboards (
    dashboard_id     TEXT PRIMARY KEY,
    job_id           TEXT NOT NULL,
    dataset_id       TEXT NOT NULL,
    html             TEXT NOT NULL,
    pdf              TEXT,
    organization_id  TEXT NOT NULL,
    owner_id         TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dashboards_owner_idx ON dashboards (owner_id);
CREATE INDEX IF NOT EXISTS dashboards_dataset_idx ON dashboards (dataset_id);

CREATE TABLE IF NOT EXISTS models (
    model_id         TEXT PRIMARY KEY,
    job_id           TEXT NOT NULL,
    dataset_id       TEXT NOT NULL,
    organization_id  TEXT NOT NULL,
    owner_id         TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS models_dataset_idx ON models (dataset_id);
CREATE INDEX IF NOT EXISTS models_owner_idx ON models (owner_id);

CREATE TABLE IF NOT EXISTS deletions (
    deletion_id        TEXT PRIMARY KEY,
    dataset_sha256     TEXT NOT NULL,
    dataset_id         TEXT,
    reason             TEXT NOT NULL CHECK (reason IN ('requested', 'retention')),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'completed')),
    services           TEXT NOT NULL,
    acks               TEXT NOT NULL DEFAULT '{}',
    artifact_prefixes  TEXT NOT NULL DEFAULT '[]',
    requested_at       TEXT NOT NULL,
    completed_at       TEXT,
    organization_id    TEXT NOT NULL,
    CHECK (status = 'pending' OR (dataset_id IS NULL AND artifact_prefixes = '[]'))
);
CREATE INDEX IF NOT EXISTS deletions_dataset_idx ON deletions (dataset_sha256);

-- identity
CREATE TABLE IF NOT EXISTS organizations (
    organization_id  TEXT PRIMARY KEY,
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    name_key         TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    user_id          TEXT PRIMARY KEY,
    organization_id  TEXT    NOT NULL REFERENCES organizations (organization_id),
    email            TEXT    NOT NULL,
    email_key        TEXT    NOT NULL,
    password_hash    TEXT    NOT NULL,
    role             TEXT    NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    disabled         INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    deleted_at       TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);
-- one live account per address, whatever its case; a deleted account frees its address
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (email_key) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS users_organization_idx ON users (organization_id, created_at);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_id    TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users (user_id),
    token_hash  TEXT NOT NULL UNIQUE,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE IF NOT EXISTS api_keys (
    api_key_id       TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (user_id),
    organization_id  TEXT NOT NULL REFERENCES organizations (organization_id),
    name             TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role             TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    key_hash         TEXT NOT NULL UNIQUE,
    created_at       TEXT NOT NULL,
    last_used_at     TEXT,
    revoked_at       TEXT,
    expires_at       TEXT  -- NULL: never (as Postgres 0006)
);
CREATE INDEX IF NOT EXISTS api_keys_user_idx ON api_keys (user_id, created_at);

-- append-only: the triggers refuse every change and removal of a row
CREATE TABLE IF NOT EXISTS audit_log (
    audit_id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at               TEXT    NOT NULL,
    request_id       TEXT,
    user_id          TEXT,
    api_key_id       TEXT,
    organization_id  TEXT,
    subject          TEXT,
    action           TEXT    NOT NULL,
    target_id        TEXT,
    status           INTEGER NOT NULL,
    client_ip        TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_organization_idx ON audit_log (organization_id, audit_id DESC);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
