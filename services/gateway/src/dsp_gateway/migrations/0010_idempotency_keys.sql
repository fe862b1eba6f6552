-- Idempotency-Key on POST /api/v1/upload and POST /api/v1/analyze: the first response to a key, replayed to a retry
-- with the same key from the same user. The row is written in the transaction that creates the dataset or the
-- job, so two requests with one key create one; `fingerprint` (SHA-256 of the request) tells a retry from
-- another request reusing the key; `completed` is false while the first request still waits for ingest's
-- verdict (its response is then the provisional 202). Keys expire after DSP_IDEMPOTENCY_TTL_S (24 h).
CREATE TABLE IF NOT EXISTS idempotency_keys (
    owner_id         uuid        NOT NULL,
    idempotency_key  text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    route            text        NOT NULL,
    fingerprint      text        NOT NULL,
    status_code      integer     NOT NULL,
    body             jsonb       NOT NULL,
    completed        boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    PRIMARY KEY (owner_id, idempotency_key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
