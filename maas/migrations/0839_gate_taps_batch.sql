-- Online QR accepts in batches (issue 17, CPU per request; ticketing/batcher.py, checkin_store
-- record_taps): the accepts a worker's requests ask for while one of its statements is in
-- flight go together as ONE statement, one transaction, one commit (group commit).
--
-- Item i is what maas_gate_tap (migration 0851) does for one: enter p_legs[i] of p_bookings[i]
-- if booking and leg are confirmed, burning p_steps[i] when p_burn[i]. The answer per item, in
-- the arrays' order: 0 not (any more) eligible; 1 eligible, the leg was already entered;
-- 2 entered; 3 the step was already burned for the booking (a replayed code: code_expired).
--
-- The insert has no conflict target, so a conflict on either unique index (the leg's tap,
-- gate_taps_booking_id_leg_no_key; the booking's burned step, gate_taps_burned_step) inserts
-- nothing instead of raising (one item's replay never aborts the others). Which conflict it
-- was is read afterwards, in a statement of its own whose snapshot sees the conflicting tap
-- (the insert waited for it to commit): the leg has a tap -> 1 (already_used comes before a
-- replayed step, as with maas_gate_tap's arbiter), else -> 3. Rows are inserted in the arrays'
-- order (the caller sorts a batch by booking, so two batches never wait on each other in a
-- cycle); two items of one booking in one array behave as they would one after the other.
CREATE OR REPLACE FUNCTION maas_gate_taps(p_taps text[], p_bookings text[], p_legs integer[],
                                          p_gates text[], p_stations text[], p_steps bigint[],
                                          p_burn boolean[], p_now timestamptz[])
RETURNS integer[] LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_got integer[];
BEGIN
    WITH i AS (
        -- per item, by the keys (OFFSET 0: never pulled up into a hash join scanning the
        -- tables); the statuses are read, never filtered in a WHERE clause a generic plan
        -- could answer through a partial index on status (booking_legs_occupancy)
        SELECT u.*, ok.from_stop, coalesce(ok.confirmed, false) AS eligible
          FROM unnest(p_taps, p_bookings, p_legs, p_gates, p_stations, p_steps, p_burn, p_now)
               WITH ORDINALITY AS u(tap, booking, leg, gate, station, step, burn, at, n)
          LEFT JOIN LATERAL (
               SELECT l.from_stop, l.status = 'confirmed' AND b.status = 'confirmed' AS confirmed
                 FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
                WHERE l.booking_id = u.booking AND l.leg_no = u.leg OFFSET 0) ok ON true),
    tap AS (
        -- the tap's station is where the leg boards (the gate's station or one of its platforms)
        INSERT INTO gate_taps (tap_id, booking_id, leg_no, gate_id, station, method, online,
                               totp_step, tapped_at, recorded_at, burned_step)
        SELECT tap, booking, leg, gate, coalesce(from_stop, station), 'qr', true, step, at, at,
               CASE WHEN burn THEN step END
          FROM i WHERE eligible ORDER BY n
        ON CONFLICT DO NOTHING
        RETURNING tap_id)
    SELECT array_agg(CASE WHEN NOT i.eligible THEN 0
                          WHEN i.tap IN (SELECT tap_id FROM tap) THEN 2 ELSE -1 END ORDER BY i.n)
      INTO v_got FROM i;
    IF -1 = ANY (v_got) THEN
        SELECT array_agg(CASE WHEN g.r <> -1 THEN g.r
                              WHEN EXISTS (SELECT 1 FROM gate_taps t
                                            WHERE t.booking_id = p_bookings[g.n]
                                              AND t.leg_no = p_legs[g.n]) THEN 1
                              ELSE 3 END ORDER BY g.n)
          INTO v_got FROM unnest(v_got) WITH ORDINALITY AS g(r, n);
    END IF;
    RETURN v_got;
END $$;
