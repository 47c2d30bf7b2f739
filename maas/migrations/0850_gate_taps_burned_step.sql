-- Fewer rows and index entries per online accept (issue 17, CPU per request).
--
-- The TOTP step an online QR accept burns is a column of its tap, unique per booking by a
-- partial index, instead of a row of its own in used_steps (a second heap row, its primary
-- key and a foreign-key check locking the booking row, per accept). A burned step is still a
-- unique violation that rolls the tap back (`code_expired`, ticketing/checkin_store.py);
-- the tap's `ON CONFLICT (booking_id, leg_no) DO NOTHING` arbiter is unchanged, so a leg
-- already entered is still `already_used` before a replayed step is looked at. An offline
-- upload that wins a leg later rewrites the tap's gate, time and `totp_step` but never
-- `burned_step`: the online accept's step stays burned.
ALTER TABLE gate_taps ADD COLUMN IF NOT EXISTS burned_step bigint;
COMMENT ON COLUMN gate_taps.burned_step IS
    'step of the rotating code an online QR accept burned: never accepted again for the booking (NULL: face, offline)';

-- Burns from before this migration: the steps of online QR taps that burned one. (A step
-- burned by a tap an offline upload overwrote since is minutes old: no gate accepts it any
-- more, its code is out of the skew window.)
UPDATE gate_taps t SET burned_step = t.totp_step
 WHERE t.online AND t.totp_step IS NOT NULL AND t.burned_step IS NULL
   AND EXISTS (SELECT 1 FROM used_steps u WHERE u.booking_id = t.booking_id AND u.step = t.totp_step);

CREATE UNIQUE INDEX IF NOT EXISTS gate_taps_burned_step ON gate_taps (booking_id, burned_step)
    WHERE burned_step IS NOT NULL;

DROP TABLE IF EXISTS used_steps;

-- Nothing reads taps by gate (the load test's one end-of-run count scans the table; an
-- operator's check-ins go by leg and time): one index entry less per tap.
DROP INDEX IF EXISTS gate_taps_gate;
