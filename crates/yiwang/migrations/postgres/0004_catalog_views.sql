-- Guide views per item, which rank popular items higher in search.
ALTER TABLE catalog_items ADD COLUMN views BIGINT NOT NULL DEFAULT 0;
