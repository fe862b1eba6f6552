-- An API key may end on its own: from expires_at on it fails like a revoked key. NULL: it never expires.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS expires_at timestamptz;
