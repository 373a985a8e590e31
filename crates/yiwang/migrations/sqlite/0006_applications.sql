-- Applications (办件), their materials and every step they take; uploaded files by content hash.
CREATE TABLE files (
    sha256       TEXT NOT NULL,
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    content_type TEXT NOT NULL,
    size_bytes   BIGINT NOT NULL,
    file_name    TEXT NOT NULL,
    uploaded_at  BIGINT NOT NULL,
    PRIMARY KEY (sha256, account_id)
);

CREATE TABLE application_numbers (
    region_code TEXT NOT NULL,
    day         TEXT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (region_code, day)
);

CREATE TABLE applications (
    id             INTEGER PRIMARY KEY,
    number         TEXT NOT NULL,
    item_code      TEXT NOT NULL,
    item_version   BIGINT NOT NULL,
    item_name      TEXT NOT NULL,
    situation_code TEXT NOT NULL,
    department_id  BIGINT NOT NULL REFERENCES departments (id),
    applicant_id   BIGINT NOT NULL REFERENCES accounts (id),
    state          TEXT NOT NULL,
    -- The state a supplement request interrupted, to return to.
    resume_state   TEXT,
    form           TEXT NOT NULL,
    -- The time-limit clock (JSON), from acceptance; its deadline while it runs.
    clock          TEXT,
    deadline_at    BIGINT,
    -- none, yellow (80% of the limit used) or red (overdue), raised by a job.
    alarm          TEXT NOT NULL DEFAULT 'none',
    submitted_at   BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    CONSTRAINT applications_number_key UNIQUE (number)
);
CREATE INDEX applications_applicant ON applications (applicant_id, submitted_at);
CREATE INDEX applications_department ON applications (department_id, state);
CREATE INDEX applications_running ON applications (state, deadline_at);

CREATE TABLE application_materials (
    application_id BIGINT NOT NULL REFERENCES applications (id),
    material_code  TEXT NOT NULL,
    -- upload, certificate or shared_data
    source         TEXT NOT NULL,
    sha256         TEXT,
    certificate_id TEXT,
    PRIMARY KEY (application_id, material_code)
);

CREATE TABLE application_events (
    application_id BIGINT NOT NULL REFERENCES applications (id),
    seq            BIGINT NOT NULL,
    action         TEXT NOT NULL,
    from_state     TEXT,
    to_state       TEXT NOT NULL,
    actor_id       BIGINT REFERENCES accounts (id),
    at             BIGINT NOT NULL,
    reason         TEXT NOT NULL,
    -- Structured details: the supplement list, the decision's basis.
    details        TEXT NOT NULL,
    PRIMARY KEY (application_id, seq)
);
