-- Identity: organisations, users, refresh tokens, API keys and the append-only audit log.
-- Signing keys are settings (DSP_JWT_KEYS / DSP_JWT_SECRET), not rows: see bootstrap.GatewaySettings.
-- Secrets are never stored: passwords as Argon2 hashes, refresh tokens and API keys as SHA-256 hex.
CREATE TABLE IF NOT EXISTS organizations (
    organization_id  uuid PRIMARY KEY,
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS organizations_name_key ON organizations (lower(name));

CREATE TABLE IF NOT EXISTS users (
    user_id          uuid PRIMARY KEY,
    organization_id  uuid        NOT NULL REFERENCES organizations (organization_id),
    email            text        NOT NULL,
    password_hash    text        NOT NULL,
    role             text        NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    disabled         boolean     NOT NULL DEFAULT false,
    deleted_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- one live account per address, whatever its case; a deleted account frees its address
CREATE UNIQUE INDEX IF NOT EXISTS users_email_key ON users (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX IF NOT EXISTS users_organization_idx ON users (organization_id, created_at);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_id         uuid PRIMARY KEY,
    family_id        uuid        NOT NULL,
    user_id          uuid        NOT NULL REFERENCES users (user_id),
    token_hash       text        NOT NULL UNIQUE,
    issued_at        timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz,
    revoked_at       timestamptz
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE IF NOT EXISTS api_keys (
    api_key_id       uuid PRIMARY KEY,
    user_id          uuid        NOT NULL REFERENCES users (user_id),
    organization_id  uuid        NOT NULL REFERENCES organizations (organization_id),
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role             text        NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    key_hash         text        NOT NULL UNIQUE,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_used_at     timestamptz,
    revoked_at       timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_user_idx ON api_keys (user_id, created_at);

-- Append-only: who (user, API key, organisation, or the address a failed login tried), what (method and
-- route), when, the request id and the outcome. No secret is ever written here.
CREATE TABLE IF NOT EXISTS audit_log (
    audit_id         bigserial PRIMARY KEY,
    at               timestamptz NOT NULL DEFAULT now(),
    request_id       text,
    user_id          uuid,
    api_key_id       uuid,
    organization_id  uuid,
    subject          text,
    action           text        NOT NULL,
    target_id        text,
    status           integer     NOT NULL,
    client_ip        text
);
CREATE INDEX IF NOT EXISTS audit_log_organization_idx ON audit_log (organization_id, audit_id DESC);

CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
