-- Less PostgreSQL work per online accept and per first token (issue 17, CPU per request).
--
-- 1. The foreign keys of gate_taps (-> booking_legs) and booking_secrets (-> bookings) are
--    dropped. Each insert ran the key's check (a cached query per connection, planned on its
--    first use) and locked the referenced row FOR KEY SHARE (a write to booking_legs' or
--    bookings' page and a WAL record per accept and per first token). What they guarded is
--    held by the statements themselves: every insert of a tap or a secret reads the leg or the
--    booking in the same statement or under its row lock (ticketing/checkin_store.py:
--    maas_gate_tap and the face statement read the confirmed leg; an offline upload locks it
--    FOR UPDATE first; token_source reads the booking), and no booking or leg is ever
--    deleted (the loadtests' `taps_confirmed` invariant checks every tap's booking and leg).
--    The key's row lock never serialised a tap against a cancel (FOR KEY SHARE does not
--    conflict with a status update), so no decision depended on it.
-- 2. gate_taps loses its primary key on tap_id: nothing reads a tap by its id (taps are read
--    by booking and leg; an offline tap id's uniqueness is offline_taps' key), so it was one
--    index entry of a random uuid per accept for nothing. (booking_id, leg_no), unique, is
--    the table's identity.
ALTER TABLE gate_taps DROP CONSTRAINT IF EXISTS gate_taps_booking_id_leg_no_fkey;
ALTER TABLE booking_secrets DROP CONSTRAINT IF EXISTS booking_secrets_booking_id_fkey;
ALTER TABLE gate_taps DROP CONSTRAINT IF EXISTS gate_taps_pkey;
ALTER TABLE gate_taps REPLICA IDENTITY USING INDEX gate_taps_booking_id_leg_no_key;
