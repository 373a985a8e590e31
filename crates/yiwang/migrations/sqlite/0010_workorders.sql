-- Work orders (工单): categories and the dispatch catalogue, grids, time limits, the orders with
-- their timeline, photos and co-handling departments, the hotline's knowledge base, sensors and
-- grid patrols. Coordinates are WGS84 in micro-degrees (BIGINT), readings in thousandths.

CREATE TABLE workorder_categories (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    level       BIGINT NOT NULL CHECK (level BETWEEN 1 AND 3),
    parent_code TEXT REFERENCES workorder_categories (code),
    -- Open311 service definition attributes (JSON array); empty for most.
    attributes  TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX workorder_categories_parent ON workorder_categories (parent_code);

-- The dispatch catalogue (派单目录): the competent department of a category, or, for a matter of
-- the place (属地), the town or street government where it happened. A category without an entry
-- takes its parent's.
CREATE TABLE dispatch_catalogue (
    category_code   TEXT PRIMARY KEY REFERENCES workorder_categories (code),
    department_code TEXT REFERENCES departments (code),
    territorial     BIGINT NOT NULL DEFAULT 0,
    CHECK (territorial = 1 OR department_code IS NOT NULL)
);

CREATE TABLE grids (
    code           TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    community_code TEXT NOT NULL REFERENCES regions (code),
    -- A GeoJSON Polygon or MultiPolygon (WGS84).
    geometry       TEXT NOT NULL
);

CREATE TABLE grid_workers (
    grid_code  TEXT NOT NULL REFERENCES grids (code),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    PRIMARY KEY (grid_code, account_id)
);

-- Time limits by request type and requester kind: sign-for within working hours, handling within
-- working days.
CREATE TABLE workorder_time_limits (
    request_type   TEXT NOT NULL,
    requester_kind TEXT NOT NULL,
    respond_hours  BIGINT,
    handle_days    BIGINT NOT NULL,
    PRIMARY KEY (request_type, requester_kind)
);

CREATE TABLE workorder_numbers (
    region_code TEXT NOT NULL,
    day         TEXT NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (region_code, day)
);

CREATE TABLE workorders (
    id                 INTEGER PRIMARY KEY,
    number             TEXT NOT NULL,
    request_type       TEXT NOT NULL,
    channel            TEXT NOT NULL,
    requester_kind     TEXT NOT NULL CHECK (requester_kind IN ('resident', 'enterprise', 'anonymous')),
    requester_account  BIGINT REFERENCES accounts (id),
    requester_name     TEXT,
    requester_phone    TEXT,
    title              TEXT NOT NULL,
    body               TEXT NOT NULL,
    category_code      TEXT REFERENCES workorder_categories (code),
    -- The classifier's suggestions (JSON: [{category, confidence}]).
    suggestions        TEXT NOT NULL DEFAULT '[]',
    attributes         TEXT NOT NULL DEFAULT '{}',
    address            TEXT,
    lat_e6             BIGINT,
    lon_e6             BIGINT,
    grid_code          TEXT REFERENCES grids (code),
    region_code        TEXT NOT NULL REFERENCES regions (code),
    department_id      BIGINT REFERENCES departments (id),
    state              TEXT NOT NULL,
    -- 110, 119, 120 or 122 when redirected as an emergency.
    emergency          TEXT,
    respond_by         BIGINT,
    signed_at          BIGINT,
    deadline_at        BIGINT,
    alarm              TEXT NOT NULL DEFAULT 'none',
    returned           BIGINT NOT NULL DEFAULT 0,
    reopened           BIGINT NOT NULL DEFAULT 0,
    supervised         BIGINT NOT NULL DEFAULT 0,
    escalated          BIGINT NOT NULL DEFAULT 0,
    -- on_site (现场核查) or joint_meeting (联席会商) for a difficult order.
    difficulty         TEXT,
    extension_days     BIGINT,
    extension_reason   TEXT,
    reply              TEXT,
    satisfaction       TEXT,
    rated_via          TEXT,
    duplicate_of       BIGINT REFERENCES workorders (id),
    -- A continuing sensor alarm: device and kind; one open order per key.
    alarm_key          TEXT,
    open311_token      TEXT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    closed_at          BIGINT,
    CONSTRAINT workorders_number_key UNIQUE (number),
    CONSTRAINT workorders_open311_token_key UNIQUE (open311_token)
);
CREATE INDEX workorders_requester ON workorders (requester_account, created_at);
CREATE INDEX workorders_phone ON workorders (requester_phone, created_at);
CREATE INDEX workorders_department ON workorders (department_id, state);
CREATE INDEX workorders_state ON workorders (state, deadline_at);
CREATE INDEX workorders_created ON workorders (created_at);
CREATE INDEX workorders_updated ON workorders (updated_at);
CREATE UNIQUE INDEX workorders_open_alarm ON workorders (alarm_key)
    WHERE alarm_key IS NOT NULL AND state NOT IN ('closed', 'redirected');

CREATE TABLE workorder_events (
    id            INTEGER PRIMARY KEY,
    workorder_id  BIGINT NOT NULL REFERENCES workorders (id),
    action        TEXT NOT NULL,
    from_state    TEXT,
    to_state      TEXT NOT NULL,
    actor_id      BIGINT REFERENCES accounts (id),
    department_id BIGINT REFERENCES departments (id),
    note          TEXT NOT NULL DEFAULT '',
    details       TEXT NOT NULL DEFAULT '{}',
    at            BIGINT NOT NULL
);
CREATE INDEX workorder_events_order ON workorder_events (workorder_id, id);
CREATE INDEX workorder_events_at ON workorder_events (at);

-- Co-handling departments (协办) beside the lead one.
CREATE TABLE workorder_co_handlers (
    workorder_id  BIGINT NOT NULL REFERENCES workorders (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    PRIMARY KEY (workorder_id, department_id)
);

CREATE TABLE workorder_photos (
    workorder_id BIGINT NOT NULL REFERENCES workorders (id),
    sha256       TEXT NOT NULL,
    content_type TEXT NOT NULL,
    PRIMARY KEY (workorder_id, sha256)
);

CREATE TABLE knowledge_articles (
    id            INTEGER PRIMARY KEY,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    category_code TEXT REFERENCES workorder_categories (code),
    keywords      TEXT NOT NULL DEFAULT '',
    updated_at    BIGINT NOT NULL
);

CREATE TABLE sensor_devices (
    device_id  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    address    TEXT NOT NULL,
    lat_e6     BIGINT NOT NULL,
    lon_e6     BIGINT NOT NULL,
    -- The API client (an account) allowed to report for it.
    account_id BIGINT NOT NULL REFERENCES accounts (id)
);

-- When a reading of a kind opens a work order: at or above `above_milli`.
CREATE TABLE sensor_thresholds (
    kind          TEXT PRIMARY KEY,
    unit          TEXT NOT NULL,
    above_milli   BIGINT NOT NULL,
    category_code TEXT NOT NULL REFERENCES workorder_categories (code),
    title         TEXT NOT NULL
);

CREATE TABLE patrol_items (
    id              INTEGER PRIMARY KEY,
    department_code TEXT NOT NULL REFERENCES departments (code),
    name            TEXT NOT NULL,
    guidance        TEXT NOT NULL DEFAULT '',
    category_code   TEXT NOT NULL REFERENCES workorder_categories (code)
);

CREATE TABLE patrols (
    id          INTEGER PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    grid_code   TEXT NOT NULL REFERENCES grids (code),
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    note        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX patrols_account ON patrols (account_id, started_at);

-- One line per checklist item looked at on a patrol: fine, or a finding with its work order.
CREATE TABLE patrol_checks (
    patrol_id    BIGINT NOT NULL REFERENCES patrols (id),
    item_id      BIGINT NOT NULL REFERENCES patrol_items (id),
    result       TEXT NOT NULL CHECK (result IN ('ok', 'finding')),
    workorder_id BIGINT REFERENCES workorders (id),
    at           BIGINT NOT NULL,
    PRIMARY KEY (patrol_id, item_id)
);
