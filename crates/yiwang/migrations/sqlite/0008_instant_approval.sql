-- Instant approval (秒批): versioned decision tables per item (and situation; '' for every
-- situation), each decision's record for audit, and the demo base registers rules look facts up in.
CREATE TABLE approval_rules (
    item_code    TEXT NOT NULL,
    situation    TEXT NOT NULL,
    version      BIGINT NOT NULL,
    decision_table TEXT NOT NULL,
    tests        TEXT NOT NULL,
    published_by BIGINT REFERENCES accounts (id),
    published_at BIGINT NOT NULL,
    PRIMARY KEY (item_code, situation, version)
);

CREATE TABLE decisions (
    application_id BIGINT PRIMARY KEY REFERENCES applications (id),
    item_code      TEXT NOT NULL,
    situation      TEXT NOT NULL,
    rule_version   BIGINT NOT NULL,
    rule_id        TEXT,
    outcome        TEXT NOT NULL,
    reason         TEXT NOT NULL,
    inputs_hash    TEXT NOT NULL,
    -- The evaluation: output and each rule's outcome.
    evaluation     TEXT NOT NULL,
    decided_at     BIGINT NOT NULL
);

CREATE TABLE register_records (
    register TEXT NOT NULL,
    subject  TEXT NOT NULL,
    facts    TEXT NOT NULL,
    PRIMARY KEY (register, subject)
);
