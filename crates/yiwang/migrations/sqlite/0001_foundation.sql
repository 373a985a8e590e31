-- Foundation: regions, departments, accounts, roles, sessions, API tokens, holidays, outbox, jobs.
-- Instants are Unix milliseconds (BIGINT); flags are 0/1 integers, the types both backends share.

CREATE TABLE regions (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    level       BIGINT NOT NULL CHECK (level BETWEEN 1 AND 4),
    parent_code TEXT REFERENCES regions (code),
    -- "/440400/440402/" : scope checks are prefix matches on this path.
    path        TEXT NOT NULL UNIQUE
);

CREATE TABLE departments (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL,
    name        TEXT NOT NULL,
    region_code TEXT NOT NULL REFERENCES regions (code),
    CONSTRAINT departments_code_key UNIQUE (code)
);
CREATE INDEX departments_region ON departments (region_code);

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('staff', 'resident', 'enterprise')),
    login         TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    password_hash TEXT,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    CONSTRAINT accounts_login_key UNIQUE (login)
);

CREATE TABLE residents (
    id          INTEGER PRIMARY KEY,
    account_id  BIGINT REFERENCES accounts (id),
    id_number   TEXT NOT NULL,
    name        TEXT NOT NULL,
    phone       TEXT,
    region_code TEXT NOT NULL REFERENCES regions (code),
    created_at  BIGINT NOT NULL,
    CONSTRAINT residents_id_number_key UNIQUE (id_number),
    CONSTRAINT residents_account_key UNIQUE (account_id)
);
CREATE INDEX residents_region ON residents (region_code);

CREATE TABLE enterprises (
    id          INTEGER PRIMARY KEY,
    account_id  BIGINT REFERENCES accounts (id),
    credit_code TEXT NOT NULL,
    name        TEXT NOT NULL,
    legal_representative TEXT NOT NULL,
    phone       TEXT,
    region_code TEXT NOT NULL REFERENCES regions (code),
    created_at  BIGINT NOT NULL,
    CONSTRAINT enterprises_credit_code_key UNIQUE (credit_code),
    CONSTRAINT enterprises_account_key UNIQUE (account_id)
);
CREATE INDEX enterprises_region ON enterprises (region_code);

CREATE TABLE staff_roles (
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    role          TEXT NOT NULL,
    PRIMARY KEY (account_id, department_id, role)
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE login_failures (
    id      INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures (subject, at);

CREATE TABLE holidays (
    day        TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('holiday', 'make_up_workday')),
    name       TEXT NOT NULL,
    updated_by BIGINT REFERENCES accounts (id),
    updated_at BIGINT NOT NULL
);

CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    topic        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    published_at BIGINT
);
CREATE INDEX outbox_unpublished ON outbox (published_at, id);

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    dedupe_key   TEXT UNIQUE,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    run_at       BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    locked_by    TEXT,
    locked_until BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
