-- Dashboards built, one per request.
CREATE TABLE IF NOT EXISTS dashboards (
    dashboard_id   uuid PRIMARY KEY,
    job_id         uuid        NOT NULL,
    dataset_id     uuid        NOT NULL,
    html_key       text        NOT NULL,
    html_bytes     bigint      NOT NULL,
    pdf_key        text,
    built_at       timestamptz NOT NULL DEFAULT now()
);
