-- The orders open now per region (the order's own and every region above it), per grid and per
-- map cell of 0.001° (about 100 m), for the statistics' map (issue 9, "Load at scale"): a city
-- has tens of thousands of open orders, and counting them per request took most of the
-- statistics' time. Moved with every change of an order in its transaction
-- (workorders/tallies.rs), like workorder_tallies.
--
-- `dimension` is 'grid' (the grid's code) or 'cell' ("latitude,longitude" in thousandths of a
-- degree, by integer division). Redirected emergencies are not counted; places whose orders
-- have all closed stay with 0.
CREATE TABLE workorder_open_places (
    region_code  TEXT NOT NULL,
    dimension    TEXT NOT NULL,
    value        TEXT NOT NULL,
    orders       BIGINT NOT NULL,
    PRIMARY KEY (region_code, dimension, value)
);

-- The open orders already stored are counted once here (the same grouping as tallies::recount).
WITH own AS (
    SELECT region_code, COALESCE(grid_code, '') AS grid,
           CASE WHEN lat_e6 IS NOT NULL AND lon_e6 IS NOT NULL
                THEN CAST(lat_e6 / 1000 AS TEXT) || ',' || CAST(lon_e6 / 1000 AS TEXT) ELSE '' END AS cell,
           COUNT(*) AS orders
    FROM workorders
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied') AND emergency IS NULL
    GROUP BY region_code, COALESCE(grid_code, ''),
             CASE WHEN lat_e6 IS NOT NULL AND lon_e6 IS NOT NULL
                  THEN CAST(lat_e6 / 1000 AS TEXT) || ',' || CAST(lon_e6 / 1000 AS TEXT) ELSE '' END
), rolled AS (
    SELECT a.code AS region_code, o.grid, o.cell, o.orders
    FROM own o JOIN regions r ON r.code = o.region_code JOIN regions a ON r.path LIKE a.path || '%'
)
INSERT INTO workorder_open_places (region_code, dimension, value, orders)
SELECT region_code, 'grid', grid, SUM(orders) FROM rolled WHERE grid <> '' GROUP BY region_code, grid
UNION ALL
SELECT region_code, 'cell', cell, SUM(orders) FROM rolled WHERE cell <> '' GROUP BY region_code, cell;

-- The map read open orders of a period through this index; nothing else does.
DROP INDEX workorders_open_created;
