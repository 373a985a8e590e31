-- Data exchange (一网共享): the data catalogue (政务信息资源目录) with each resource's fields and
-- attached source, uploaded datasets, department apps and their grants (共享申请), the gateway's
-- call log with the residents each call returned, and the alerts raised on unusual use.
CREATE TABLE exchange_resources (
    id            INTEGER PRIMARY KEY,
    code          TEXT NOT NULL,
    -- A random UUID, the dataset id the open-data (CKAN) API shows.
    uuid          TEXT NOT NULL,
    name          TEXT NOT NULL,
    department_id BIGINT NOT NULL REFERENCES departments (id),
    -- The whole description as JSON (fields, grades, sharing and open types, source, tags …).
    document      TEXT NOT NULL,
    sharing_type  TEXT NOT NULL,
    open_type     TEXT NOT NULL,
    -- Bumped by every edit and every upload, so a cached copy knows it is stale.
    version       BIGINT NOT NULL,
    row_count     BIGINT NOT NULL DEFAULT 0,
    data_loaded_at BIGINT,
    created_by    BIGINT REFERENCES accounts (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CONSTRAINT exchange_resources_code_key UNIQUE (code),
    CONSTRAINT exchange_resources_uuid_key UNIQUE (uuid)
);
CREATE INDEX exchange_resources_department ON exchange_resources (department_id);

-- Rows of a resource whose source is an uploaded dataset; replaced whole by each upload.
CREATE TABLE exchange_rows (
    resource_id BIGINT NOT NULL REFERENCES exchange_resources (id),
    row_no      BIGINT NOT NULL,
    key_value   TEXT NOT NULL,
    -- Every declared field, JSON.
    data        TEXT NOT NULL,
    -- Only the public fields, JSON: what open data publishes; NULL unless the resource is open.
    open_data   TEXT,
    PRIMARY KEY (resource_id, row_no)
);
CREATE INDEX exchange_rows_key ON exchange_rows (resource_id, key_value);

-- A department's system that calls the gateway, with its own token (stored hashed) and limits.
CREATE TABLE exchange_apps (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    department_id   BIGINT NOT NULL REFERENCES departments (id),
    token_hash      TEXT NOT NULL,
    rate_per_minute BIGINT NOT NULL,
    daily_quota     BIGINT NOT NULL,
    created_by      BIGINT REFERENCES accounts (id),
    created_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    CONSTRAINT exchange_apps_token_key UNIQUE (token_hash)
);

CREATE TABLE exchange_grants (
    id           INTEGER PRIMARY KEY,
    resource_id  BIGINT NOT NULL REFERENCES exchange_resources (id),
    app_id       BIGINT NOT NULL REFERENCES exchange_apps (id),
    purpose      TEXT NOT NULL,
    -- JSON lists: the fields returned, and the personal ones returned unmasked.
    fields       TEXT NOT NULL,
    clear_fields TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'granted', 'refused', 'revoked')),
    requested_by BIGINT REFERENCES accounts (id),
    requested_at BIGINT NOT NULL,
    due_at       BIGINT,
    decided_by   BIGINT REFERENCES accounts (id),
    decided_at   BIGINT,
    reasons      TEXT,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX exchange_grants_app ON exchange_grants (app_id, resource_id);
CREATE INDEX exchange_grants_resource ON exchange_grants (resource_id, state);

-- Every gateway call, granted or refused. The id is made by the gateway, so a batch of calls is
-- written without reading ids back.
CREATE TABLE exchange_calls (
    id            TEXT PRIMARY KEY,
    app_id        BIGINT NOT NULL REFERENCES exchange_apps (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    resource_id   BIGINT REFERENCES exchange_resources (id),
    -- lookup or query
    kind          TEXT NOT NULL,
    -- SHA-256 of the key looked up: enough to see many distinct keys, not the key itself.
    key_hash      TEXT,
    fields        TEXT NOT NULL,
    row_count     BIGINT NOT NULL,
    reason        TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX exchange_calls_resource ON exchange_calls (resource_id, at);
CREATE INDEX exchange_calls_app ON exchange_calls (app_id, at);

-- Whose records a call returned (SHA-256 of their ID number), so a resident can see who looked.
CREATE TABLE exchange_call_subjects (
    call_id      TEXT NOT NULL REFERENCES exchange_calls (id),
    subject_hash TEXT NOT NULL
);
CREATE INDEX exchange_call_subjects_subject ON exchange_call_subjects (subject_hash);

CREATE TABLE exchange_alerts (
    id          INTEGER PRIMARY KEY,
    app_id      BIGINT NOT NULL REFERENCES exchange_apps (id),
    resource_id BIGINT NOT NULL REFERENCES exchange_resources (id),
    -- volume_spike, bulk_enumeration or off_hours
    kind        TEXT NOT NULL,
    -- The window the alert covers, so a job run twice raises it once.
    window_key  TEXT NOT NULL,
    detail      TEXT NOT NULL,
    raised_at   BIGINT NOT NULL,
    CONSTRAINT exchange_alerts_once UNIQUE (app_id, resource_id, kind, window_key)
);
CREATE INDEX exchange_alerts_resource ON exchange_alerts (resource_id, raised_at);
