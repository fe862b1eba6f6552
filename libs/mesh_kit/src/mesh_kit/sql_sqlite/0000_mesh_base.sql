-- Tables every service keeps in its own database: the transactional outbox, the inbox and the tombstones.
CREATE TABLE IF NOT EXISTS outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT    NOT NULL UNIQUE,
    routing_key   TEXT    NOT NULL,
    job_id        TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    headers       TEXT    NOT NULL DEFAULT '{}',
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    delivered_at  TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending_idx ON outbox (id) WHERE delivered_at IS NULL;

CREATE TABLE IF NOT EXISTS inbox (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    routing_key  TEXT NOT NULL,
    handled_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (consumer, event_id)
);

-- Datasets erased in this database, by the SHA-256 of their id only (see mesh_kit.deletion).
CREATE TABLE IF NOT EXISTS deleted_datasets (
    dataset_sha256  TEXT PRIMARY KEY,
    deleted_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- The local bus's count of the times it started an event's delivery here, kept across restarts,
-- so that an event which keeps killing or failing its stage is given up with a reason.
CREATE TABLE IF NOT EXISTS bus_attempts (
    consumer    TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    PRIMARY KEY (consumer, event_id)
);
