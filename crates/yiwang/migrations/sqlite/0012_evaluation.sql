-- Service evaluation (好差评): the service events that may be rated, their ratings and tags, and
-- the rectification (整改) a bad rating opens.

-- A completed application, a closed work order or a window visit recorded by a clerk.
CREATE TABLE service_events (
    id              INTEGER PRIMARY KEY,
    -- application, workorder or window
    kind            TEXT NOT NULL,
    -- The application's or work order's number; a window visit's own number.
    reference       TEXT NOT NULL,
    item_code       TEXT NOT NULL,
    item_name       TEXT NOT NULL,
    department_id   BIGINT NOT NULL REFERENCES departments (id),
    department_code TEXT NOT NULL,
    department_name TEXT NOT NULL,
    -- The department's region path ("/440400/440402/"), for drill-down and scope.
    region_path     TEXT NOT NULL,
    staff_id        BIGINT REFERENCES accounts (id),
    requester_id    BIGINT REFERENCES accounts (id),
    -- SHA-256 of a window visit's one-time rating token (its QR code).
    token_sha256    TEXT,
    served_at       BIGINT NOT NULL,
    -- The round a rating may now be given in: 1, or 2 after a rectification reply or re-handling.
    open_round      BIGINT NOT NULL DEFAULT 1,
    -- When the open round began; it gets the default rating if nobody rates it within the period.
    round_opened_at BIGINT NOT NULL,
    CONSTRAINT service_events_reference_key UNIQUE (kind, reference),
    CONSTRAINT service_events_token_key UNIQUE (token_sha256)
);
CREATE INDEX service_events_department ON service_events (department_id);
CREATE INDEX service_events_round ON service_events (round_opened_at);

CREATE TABLE ratings (
    id             INTEGER PRIMARY KEY,
    event_id       BIGINT NOT NULL REFERENCES service_events (id),
    round          BIGINT NOT NULL,
    level          TEXT NOT NULL,
    -- The national channel code, 1-7.
    channel        BIGINT NOT NULL,
    body           TEXT NOT NULL DEFAULT '',
    -- 1: given by the job after the period, not by a person.
    is_default     BIGINT NOT NULL DEFAULT 0,
    rated_by       BIGINT REFERENCES accounts (id),
    rated_at       BIGINT NOT NULL,
    -- malicious or unfounded, ruled by a supervisor with reasons; such ratings are not counted.
    ruling         TEXT,
    ruling_reason  TEXT,
    ruled_by       BIGINT REFERENCES accounts (id),
    ruled_at       BIGINT,
    CONSTRAINT ratings_round_key UNIQUE (event_id, round)
);
CREATE INDEX ratings_rated_at ON ratings (rated_at);

CREATE TABLE rating_tags (
    rating_id BIGINT NOT NULL REFERENCES ratings (id),
    tag       TEXT NOT NULL,
    PRIMARY KEY (rating_id, tag)
);

CREATE TABLE rectifications (
    id            INTEGER PRIMARY KEY,
    rating_id     BIGINT NOT NULL REFERENCES ratings (id),
    event_id      BIGINT NOT NULL REFERENCES service_events (id),
    department_id BIGINT NOT NULL REFERENCES departments (id),
    -- opened, verified, contacted, rectified or replied
    state         TEXT NOT NULL,
    opened_at     BIGINT NOT NULL,
    deadline_at   BIGINT NOT NULL,
    -- Raised by a job once the deadline passed without a reply.
    overdue       BIGINT NOT NULL DEFAULT 0,
    replied_at    BIGINT,
    -- The notes of the steps taken, as JSON {"verify": {"note", "at", "by"}, …}.
    steps         TEXT NOT NULL DEFAULT '{}',
    CONSTRAINT rectifications_rating_key UNIQUE (rating_id)
);
CREATE INDEX rectifications_department ON rectifications (department_id, state);
CREATE INDEX rectifications_due ON rectifications (state, deadline_at);
