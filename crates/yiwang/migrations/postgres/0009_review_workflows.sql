-- Review workflows per item: ordered steps, each for the reviewers of one or more departments,
-- with parallel sign-off (会签: every department must approve) as an option.
CREATE TABLE review_workflows (
    item_code  TEXT PRIMARY KEY,
    steps      TEXT NOT NULL,
    updated_by BIGINT REFERENCES accounts (id),
    updated_at BIGINT NOT NULL
);

ALTER TABLE applications ADD COLUMN review_step BIGINT NOT NULL DEFAULT 0;

CREATE TABLE sign_offs (
    application_id  BIGINT NOT NULL REFERENCES applications (id),
    step            BIGINT NOT NULL,
    department_code TEXT NOT NULL,
    actor_id        BIGINT NOT NULL REFERENCES accounts (id),
    at              BIGINT NOT NULL,
    PRIMARY KEY (application_id, step, department_code)
);
