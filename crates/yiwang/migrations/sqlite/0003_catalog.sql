-- The service catalogue: one row per item, and every published version of its document.
CREATE TABLE catalog_items (
    id                  INTEGER PRIMARY KEY,
    implementation_code TEXT NOT NULL,
    basic_code          TEXT NOT NULL,
    name                TEXT NOT NULL,
    item_type           TEXT NOT NULL,
    department_id       BIGINT NOT NULL REFERENCES departments (id),
    published_version   BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT catalog_items_code_key UNIQUE (implementation_code)
);
CREATE INDEX catalog_items_department ON catalog_items (department_id);

CREATE TABLE catalog_versions (
    item_id      BIGINT NOT NULL REFERENCES catalog_items (id),
    version      BIGINT NOT NULL,
    document     TEXT NOT NULL,
    published_by BIGINT REFERENCES accounts (id),
    published_at BIGINT NOT NULL,
    PRIMARY KEY (item_id, version)
);
