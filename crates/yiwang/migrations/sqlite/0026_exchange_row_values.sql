-- Every stored row's field values, so that filters on a dataset (the gateway's queries, CKAN's
-- datastore_search) read an index instead of every row's JSON. Values are written as
-- `exchange::dataset::indexed` renders them; a value longer than 200 characters is left out and a
-- filter on one reads the rows.
CREATE TABLE exchange_row_values (
    resource_id BIGINT NOT NULL REFERENCES exchange_resources (id),
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,
    row_no      BIGINT NOT NULL,
    PRIMARY KEY (resource_id, field, value, row_no)
) WITHOUT ROWID;

-- 1 once the resource's rows are in exchange_row_values: rows uploaded before this table existed
-- are indexed when a node starts.
ALTER TABLE exchange_resources ADD COLUMN rows_indexed BIGINT NOT NULL DEFAULT 0;
