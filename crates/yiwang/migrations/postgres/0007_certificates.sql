-- E-certificates (电子证照): the catalogue of types, which item's approval issues which type,
-- the certificates with their signed notes, and every use of one by a department.
CREATE TABLE certificate_types (
    code            TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    department_code TEXT NOT NULL,
    -- person or legal_person
    holder_type     TEXT NOT NULL,
    -- JSON list of {key, label}
    fields          TEXT NOT NULL,
    validity_days   BIGINT
);

CREATE TABLE certificate_results (
    item_basic_code TEXT PRIMARY KEY,
    type_code       TEXT NOT NULL REFERENCES certificate_types (code)
);

CREATE TABLE certificate_serials (
    type_code   TEXT NOT NULL,
    issuer_code TEXT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (type_code, issuer_code)
);

CREATE TABLE certificates (
    id                 TEXT PRIMARY KEY,
    type_code          TEXT NOT NULL REFERENCES certificate_types (code),
    holder_account_id  BIGINT NOT NULL REFERENCES accounts (id),
    -- The C2SP signed note (Ed25519) over the body, and the SM2 signature (SM3) over the same
    -- body text, hex.
    note               TEXT NOT NULL,
    sm2_signature      TEXT NOT NULL,
    issued_at          BIGINT NOT NULL,
    expires_at         BIGINT,
    revoked_at         BIGINT,
    revoked_reason     TEXT,
    application_number TEXT
);
CREATE INDEX certificates_holder ON certificates (holder_account_id, type_code);

CREATE TABLE certificate_uses (
    certificate_id     TEXT NOT NULL REFERENCES certificates (id),
    department_code    TEXT NOT NULL,
    application_number TEXT,
    reason             TEXT NOT NULL,
    used_by            BIGINT REFERENCES accounts (id),
    at                 BIGINT NOT NULL
);
CREATE INDEX certificate_uses_certificate ON certificate_uses (certificate_id, at);
