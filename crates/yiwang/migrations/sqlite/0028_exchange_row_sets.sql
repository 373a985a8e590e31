-- An upload's rows are written as a row set of their own, in many short transactions, and the
-- resource is switched to the new set in one: the rows served before stay served until the switch,
-- and an upload of hundreds of thousands of rows no longer holds SQLite's single write lock (and so
-- every other write in the city) for its whole length. A replaced set is deleted by the
-- `exchange.drop_row_sets` job once no node's cached copy of the resource can still read it.
CREATE TABLE exchange_row_sets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    resource_id BIGINT NOT NULL REFERENCES exchange_resources (id),
    -- loading (an upload is writing it), live (the resource serves it) or retired (replaced).
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    retired_at  BIGINT
);
CREATE INDEX exchange_row_sets_state ON exchange_row_sets (state, id);

-- Every resource's stored rows become its first set, under the resource's own id.
INSERT INTO exchange_row_sets (id, resource_id, state, created_at)
SELECT id, id, 'live', COALESCE(data_loaded_at, created_at) FROM exchange_resources;

-- The set a resource serves; NULL before its first upload.
ALTER TABLE exchange_resources ADD COLUMN row_set BIGINT REFERENCES exchange_row_sets (id);
UPDATE exchange_resources SET row_set = id;

-- SQLite cannot change a foreign key in place: the row tables are rebuilt keyed by their set.
CREATE TABLE exchange_rows_by_set (
    row_set   BIGINT NOT NULL REFERENCES exchange_row_sets (id),
    row_no    BIGINT NOT NULL,
    key_value TEXT NOT NULL,
    -- Every declared field, JSON.
    data      TEXT NOT NULL,
    -- Only the public fields, JSON: what open data publishes; NULL unless the resource is open.
    open_data TEXT,
    PRIMARY KEY (row_set, row_no)
);
INSERT INTO exchange_rows_by_set (row_set, row_no, key_value, data, open_data)
SELECT resource_id, row_no, key_value, data, open_data FROM exchange_rows;
DROP TABLE exchange_rows;
ALTER TABLE exchange_rows_by_set RENAME TO exchange_rows;
CREATE INDEX exchange_rows_key ON exchange_rows (row_set, key_value);

CREATE TABLE exchange_row_values_by_set (
    row_set BIGINT NOT NULL REFERENCES exchange_row_sets (id),
    field   TEXT NOT NULL,
    value   TEXT NOT NULL,
    row_no  BIGINT NOT NULL,
    PRIMARY KEY (row_set, field, value, row_no)
) WITHOUT ROWID;
INSERT INTO exchange_row_values_by_set (row_set, field, value, row_no)
SELECT resource_id, field, value, row_no FROM exchange_row_values;
DROP TABLE exchange_row_values;
ALTER TABLE exchange_row_values_by_set RENAME TO exchange_row_values;
