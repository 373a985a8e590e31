-- Calls per app, resource and hour, kept as calls are logged, so the alert job (every minute) and
-- a node's first quota check read a few rows instead of scanning the whole call log, which only
-- grows. Calls that named no resource are not counted: they return nothing and alerts are per
-- resource.
CREATE TABLE exchange_call_hours (
    app_id      BIGINT NOT NULL REFERENCES exchange_apps (id),
    resource_id BIGINT NOT NULL REFERENCES exchange_resources (id),
    -- Unix hours (milliseconds / 3,600,000)
    hour        BIGINT NOT NULL,
    calls       BIGINT NOT NULL,
    ok_calls    BIGINT NOT NULL,
    PRIMARY KEY (app_id, resource_id, hour)
);
CREATE INDEX exchange_call_hours_hour ON exchange_call_hours (hour);

INSERT INTO exchange_call_hours (app_id, resource_id, hour, calls, ok_calls)
SELECT app_id, resource_id, at / 3600000, COUNT(*), SUM(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END)
FROM exchange_calls WHERE resource_id IS NOT NULL
GROUP BY app_id, resource_id, at / 3600000;

-- The enumeration check reads the last minutes of calls by time; nothing reads calls by app.
CREATE INDEX exchange_calls_at ON exchange_calls (at);
DROP INDEX exchange_calls_app;
