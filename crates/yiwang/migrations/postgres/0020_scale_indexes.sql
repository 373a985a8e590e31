-- Indexes for reads at city scale (issue 9, "Load at scale": 10 million work orders, 1 million
-- applications). Numbered well after the others so that branches adding migrations meanwhile
-- keep their numbers.

-- The supervisor's board and the map of open orders: only open orders (a few per cent of all),
-- most urgent first. The board's queries name the open states as constants so that the planner
-- can prove this predicate.
CREATE INDEX workorders_open_deadline ON workorders (deadline_at, id)
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied');
CREATE INDEX workorders_open_created ON workorders (created_at)
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied');

-- Lists filtered by state or by alarm, newest first.
CREATE INDEX workorders_state_created ON workorders (state, created_at);
CREATE INDEX workorders_alarm_created ON workorders (alarm, created_at);

-- Statistics: one index-only pass over a period carries every column the figures count, so
-- the table itself is not read. It also serves everything the plain created_at index did.
CREATE INDEX workorders_stats ON workorders (created_at)
    INCLUDE (region_code, channel, category_code, department_id, state, closed_at, deadline_at, satisfaction, emergency);
DROP INDEX workorders_created;

-- A department's applications newest first, and its open ones by deadline (the workbench).
CREATE INDEX applications_department_submitted ON applications (department_id, submitted_at, id);
CREATE INDEX applications_department_open ON applications (department_id, deadline_at)
    WHERE state IN ('submitted', 'accepted', 'supplement_requested', 'approved');
