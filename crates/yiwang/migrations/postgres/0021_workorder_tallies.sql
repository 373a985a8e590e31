-- Running totals of work orders for the statistics (issue 9, "Load at scale"): counting a year's
-- orders per request cannot be done in 100 ms at city scale, so every order is counted once per
-- China day (of its intake) under its own region and every region above it, by channel, by
-- first-level category and by department. A change to an order moves its counts in the same
-- transaction (workorders/tallies.rs), so the figures always agree with the orders; a scope is
-- then a handful of regions and the period a range of days.
--
-- `dimension` is 'channel' (the channel), 'category' (the first-level category code, '' when
-- unclassified) or 'department' (the department's id as text, '' when not yet dispatched). The
-- counts are those of stats.rs: orders; closed; closed before the deadline; closed with a closing
-- time and the milliseconds they took; rated satisfied or better, basically satisfied, dissatisfied
-- or worse. Redirected emergencies are not counted.
CREATE TABLE workorder_tallies (
    region_code          TEXT NOT NULL,
    day                  BIGINT NOT NULL,
    dimension            TEXT NOT NULL,
    value                TEXT NOT NULL,
    orders               BIGINT NOT NULL,
    closed               BIGINT NOT NULL,
    on_time              BIGINT NOT NULL,
    timed                BIGINT NOT NULL,
    handled_ms           BIGINT NOT NULL,
    satisfied            BIGINT NOT NULL,
    basically_satisfied  BIGINT NOT NULL,
    dissatisfied         BIGINT NOT NULL,
    PRIMARY KEY (region_code, day, dimension, value)
);

-- The orders already stored are counted once here (the same grouping as tallies::recount).
WITH own AS (
    SELECT region_code, (created_at + 28800000) / 86400000 AS day, channel,
           COALESCE(substr(category_code, 1, 2), '') AS category,
           COALESCE(CAST(department_id AS TEXT), '') AS department,
           COUNT(*) AS orders,
           SUM(CASE WHEN state = 'closed' THEN 1 ELSE 0 END) AS closed,
           SUM(CASE WHEN state = 'closed' AND closed_at < deadline_at THEN 1 ELSE 0 END) AS on_time,
           SUM(CASE WHEN state = 'closed' AND closed_at IS NOT NULL THEN 1 ELSE 0 END) AS timed,
           SUM(CASE WHEN state = 'closed' AND closed_at IS NOT NULL THEN closed_at - created_at ELSE 0 END) AS handled_ms,
           SUM(CASE WHEN satisfaction IN ('very_satisfied', 'satisfied') THEN 1 ELSE 0 END) AS satisfied,
           SUM(CASE WHEN satisfaction = 'basically_satisfied' THEN 1 ELSE 0 END) AS basically_satisfied,
           SUM(CASE WHEN satisfaction IN ('dissatisfied', 'very_dissatisfied') THEN 1 ELSE 0 END) AS dissatisfied
    FROM workorders WHERE emergency IS NULL
    GROUP BY region_code, (created_at + 28800000) / 86400000, channel, COALESCE(substr(category_code, 1, 2), ''),
             COALESCE(CAST(department_id AS TEXT), '')
), rolled AS (
    SELECT a.code AS region_code, o.day, o.channel, o.category, o.department, o.orders, o.closed, o.on_time, o.timed,
           o.handled_ms, o.satisfied, o.basically_satisfied, o.dissatisfied
    FROM own o JOIN regions r ON r.code = o.region_code JOIN regions a ON r.path LIKE a.path || '%'
)
INSERT INTO workorder_tallies (region_code, day, dimension, value, orders, closed, on_time, timed, handled_ms,
                               satisfied, basically_satisfied, dissatisfied)
SELECT region_code, day, 'channel', channel, SUM(orders), SUM(closed), SUM(on_time), SUM(timed), SUM(handled_ms),
       SUM(satisfied), SUM(basically_satisfied), SUM(dissatisfied)
FROM rolled GROUP BY region_code, day, channel
UNION ALL
SELECT region_code, day, 'category', category, SUM(orders), SUM(closed), SUM(on_time), SUM(timed), SUM(handled_ms),
       SUM(satisfied), SUM(basically_satisfied), SUM(dissatisfied)
FROM rolled GROUP BY region_code, day, category
UNION ALL
SELECT region_code, day, 'department', department, SUM(orders), SUM(closed), SUM(on_time), SUM(timed),
       SUM(handled_ms), SUM(satisfied), SUM(basically_satisfied), SUM(dissatisfied)
FROM rolled GROUP BY region_code, day, department;

-- The statistics no longer read the orders of a period, so the wide covering index that served
-- them goes; lists newest first keep a plain one (with the id, their tie-break).
DROP INDEX workorders_stats;
CREATE INDEX workorders_created ON workorders (created_at, id);

-- The board's counts and the statistics' map read only open orders; these partial indexes now
-- carry the columns those reads filter and show, so the table is not visited.
DROP INDEX workorders_open_deadline;
CREATE INDEX workorders_open_deadline ON workorders (deadline_at, id)
    INCLUDE (region_code, state, alarm, returned, reopened, extension_days)
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied');
DROP INDEX workorders_open_created;
CREATE INDEX workorders_open_created ON workorders (created_at)
    INCLUDE (region_code, emergency, grid_code, lat_e6, lon_e6)
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied');
