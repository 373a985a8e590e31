-- The evidence log: leaves, the hash of every perfect subtree (level 0 = leaf hashes), the size,
-- and signed checkpoints. Rows are only ever inserted; `yiwang ledger verify` checks all of them.

CREATE TABLE ledger_leaves (
    idx     BIGINT PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    -- The canonical LeafV1 encoding; its RFC 9162 leaf hash is node (0, idx).
    data    BYTEA NOT NULL
);
CREATE INDEX ledger_leaves_subject ON ledger_leaves (subject, idx);

CREATE TABLE ledger_nodes (
    level BIGINT NOT NULL,
    idx   BIGINT NOT NULL,
    hash  BYTEA NOT NULL,
    PRIMARY KEY (level, idx)
);

CREATE TABLE ledger_state (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    size BIGINT NOT NULL
);
INSERT INTO ledger_state (id, size) VALUES (1, 0);

CREATE TABLE ledger_checkpoints (
    size       BIGINT PRIMARY KEY,
    root       BYTEA NOT NULL,
    note       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
