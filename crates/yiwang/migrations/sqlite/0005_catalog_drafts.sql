-- Drafts of service items: edited by the department's staff, unseen by residents until published.
CREATE TABLE catalog_drafts (
    implementation_code TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    department_code     TEXT NOT NULL,
    document            TEXT NOT NULL,
    -- The published version the draft started from; NULL for a new item.
    based_on_version    BIGINT,
    created_by          BIGINT NOT NULL REFERENCES accounts (id),
    updated_by          BIGINT NOT NULL REFERENCES accounts (id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
