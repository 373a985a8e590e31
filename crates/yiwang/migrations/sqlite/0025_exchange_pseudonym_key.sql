-- The fingerprint of the key the call log's pseudonyms are made with (DATA_DIR/pseudonym.key;
-- the key itself never enters the database), so that a node started with another key refuses to
-- start instead of writing pseudonyms no resident's query would match.
CREATE TABLE exchange_pseudonym_key (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
