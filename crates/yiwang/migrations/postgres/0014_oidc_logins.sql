-- Sign-ins through the city's identity platform (OIDC) that have been started and not finished:
-- what the callback needs to check the answer (nonce) and redeem the code (PKCE verifier). Keyed by
-- the hash of the `state` parameter; a row is used once and lives a few minutes.
CREATE TABLE oidc_logins (
    state_hash    TEXT PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    next_path     TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);
