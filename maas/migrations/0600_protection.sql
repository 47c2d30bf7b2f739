-- Connection protection (issue 11): the realtime watch over confirmed bookings.
--
-- The index "trip instance -> confirmed booking legs" is booking_legs itself, through the
-- partial index below: a realtime update names (trip_id, service_date) runs, and one probe per
-- run finds the few confirmed legs (hence bookings) it can break.
--
-- Durability: a realtime update that touches a booking becomes a protection_jobs row first
-- (in its own transaction); a worker claims jobs with FOR UPDATE SKIP LOCKED, checks the
-- booking under its row lock and writes what it found as booking_events rows (event
-- 'disrupted', detail = the legs and why) in the same transaction as the job's end. A crash
-- mid-job leaves the row 'running' with its claim time; it is claimed again after
-- protection.job_lease_s. At most one open (pending or running) job per booking: two updates
-- arriving together for one booking check it once.
CREATE INDEX booking_legs_confirmed_run ON booking_legs (trip_id, service_date)
    WHERE status = 'confirmed';

CREATE TABLE protection_jobs (
    id          bigserial PRIMARY KEY,                -- claim order
    booking_id  text NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,  -- the booking to check
    state       text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    reason      jsonb NOT NULL DEFAULT '{}',          -- what woke it: {"feed": .., "trips": [..]}
    attempts    integer NOT NULL DEFAULT 0,           -- claims so far (a crash retries)
    outcome     text,                                 -- ok | disrupted | error text (done/failed)
    created_at  timestamptz NOT NULL,                 -- enqueue time (injectable clock)
    claimed_at  timestamptz,                          -- last claim; a 'running' job past the lease is re-claimed
    again       boolean NOT NULL DEFAULT false,       -- an update came while running: check once more
    finished_at timestamptz                           -- done/failed time
);
COMMENT ON TABLE protection_jobs IS 'Connection-protection checks of one booking each (issue 11), claimed with SKIP LOCKED';
-- One open job per booking: a second update while one is open merges into it.
CREATE UNIQUE INDEX protection_jobs_open ON protection_jobs (booking_id)
    WHERE state IN ('pending', 'running');
CREATE INDEX protection_jobs_claim ON protection_jobs (id) WHERE state IN ('pending', 'running');
