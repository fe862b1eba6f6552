-- Dashboards built, one per request.
CREATE TABLE IF NOT EXISTS dashboards (
    dashboard_id   TEXT PRIMARY KEY,
    job_id         TEXT    NOT NULL,
    dataset_id     TEXT    NOT NULL,
    html_key       TEXT    NOT NULL,
    html_bytes     INTEGER NOT NULL,
    pdf_key        TEXT,
    built_at       TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS dashboards_dataset_idx ON dashboards (dataset_id);
