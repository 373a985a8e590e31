-- The supervisor's board reads, per section, the most urgent open orders (issue 9, "Load at
-- scale"). Overdue and near-due orders are found by their alarm, earliest deadline first; the
-- returned, re-opened and extension-request sections are the few open orders carrying a flag.
CREATE INDEX workorders_open_alarm_deadline ON workorders (alarm, deadline_at, id)
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied');
CREATE INDEX workorders_open_flagged ON workorders (deadline_at, id)
    WHERE state IN ('pending', 'dispatched', 'signed', 'replied')
      AND (returned = 1 OR reopened = 1 OR extension_days IS NOT NULL);
