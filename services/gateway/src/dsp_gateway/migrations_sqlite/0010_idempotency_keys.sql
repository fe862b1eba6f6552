-- Idempotency-Key on POST /api/v1/upload and POST /api/v1/analyze (as migrations/0010): the first response to a
-- key from one user, written with the dataset or job it created; body is JSON text, times UTC ISO text.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner_id         TEXT    NOT NULL,
    idempotency_key  TEXT    NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    route            TEXT    NOT NULL,
    fingerprint      TEXT    NOT NULL,
    status_code      INTEGER NOT NULL,
    body             TEXT    NOT NULL,
    completed        INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL,
    expires_at       TEXT    NOT NULL,
    PRIMARY KEY (owner_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
