-- Automatic rebooking of a disrupted booking (issue 11, connection protection).
--
-- What a booking was sold with, so protection can re-plan "the same journey" later: the plan
-- options of the itinerary (modes, wheelchair, longest walk, the passenger's own minimum
-- connection time) and, per leg, the connection time it was sold with (the change time the
-- planner asked before that leg, never more than the slack of the timetable at sale). Old rows
-- keep the defaults: modes NULL = the modes of the legs sold, no wheelchair, the routing
-- defaults, and a NULL connection_s is judged as before (the planner's change time, capped by
-- the slack sold).
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS modes text[];                 -- NULL: the sold legs' modes
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS wheelchair boolean NOT NULL DEFAULT false;
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS max_walk_m double precision;  -- NULL: routing default
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS min_transfer_s integer;       -- NULL: mode defaults
-- What protection did last: NULL, or {"state": "rebooked" | "rebook_failed", "at": ..,
-- "legs": [leg_no..] (rebook_failed: the broken legs), "refund_minor": .. (their full refund,
-- offered while the state is rebook_failed and those legs are still confirmed)}.
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS protection jsonb;
ALTER TABLE booking_legs ADD COLUMN IF NOT EXISTS connection_s integer;     -- NULL: not stored at sale

-- Protection jobs gain a phase: 'rebooking' = the check found a broken leg (its `disrupted`
-- events are written) and the re-plan + swap is to do: released (claimed_at NULL) for any
-- worker, claimed after the pending checks. A crash while rebooking leaves the row
-- 'rebooking' with its claim time; after protection.job_lease_s another worker claims it and
-- resumes (the rebooking judges the booking again under its row lock).
ALTER TABLE protection_jobs DROP CONSTRAINT IF EXISTS protection_jobs_state_check;
ALTER TABLE protection_jobs ADD CONSTRAINT protection_jobs_state_check
    CHECK (state IN ('pending', 'running', 'rebooking', 'done', 'failed'));
DROP INDEX IF EXISTS protection_jobs_open;
CREATE UNIQUE INDEX protection_jobs_open ON protection_jobs (booking_id)
    WHERE state IN ('pending', 'running', 'rebooking');
DROP INDEX IF EXISTS protection_jobs_claim;
CREATE INDEX protection_jobs_claim ON protection_jobs (id)
    WHERE state IN ('pending', 'running', 'rebooking');
