-- Confirm in two round trips instead of four (issue 17, CPU per request; ticketing/store.py
-- `confirm`): the read without locks that cancel uses (`maas_booking_current`, 0833: the
-- booking, its row version `xmin`, legs, passengers, the Idempotency-Key's stored response),
-- then this one statement, which is its own transaction (no BEGIN, no COMMIT round trip;
-- the commit stays synchronous).
--
-- Lock order as everywhere (key, booking, segments): the key's claim (0820's advisory lock),
-- the booking row by an UPDATE that writes only if the row is still the version read (every
-- writer of a booking's legs and tickets updates the booking row in the same transaction, so
-- an unchanged row means unchanged legs; UPDATE ... WHERE xmin = p_xmin waits for a writer
-- holding the row and re-checks the version it committed), then the segment locks of the
-- held legs (p_locks: their stored lock_ids, ascending). A stale read returns false with
-- nothing written: the caller confirms the locking way (maas_booking_for_write).
--
-- The caller read its clock (p_t) before this statement, not after the segment locks as the
-- locking way does: a hold that read its clock later, already past the booking's expiry, may
-- have counted this booking's held seats as free and sold them while we waited for the
-- locks. So, under the locks, the seats of every segment of the legs confirmed are counted
-- again (this booking's legs included, live at p_t) against each leg's capacity (as maas_hold
-- finds it: the trip's override, its GTFS trip's, its route's, else p_cap from the settings);
-- a segment over capacity raises maas_confirm_recount: everything is rolled back and the
-- caller confirms the locking way, which reads its clock after the locks (and then sees the
-- hold expired, or confirms as before when an operator lowered the capacity). Seats are never
-- sold twice either way. A key row written meanwhile (a duplicate that committed first)
-- raises maas_idempotency_race: rolled back, the caller replays the stored response.
CREATE OR REPLACE FUNCTION maas_confirm_write(
    p_booking text, p_xmin xid, p_t timestamptz, p_status text, p_payment text,
    p_legs int[], p_locks int[], p_trip text[], p_date date[], p_board int[], p_alight int[],
    p_route text[], p_cap int[], p_tk_id text[], p_tk_leg int[], p_tk_pax int[], p_tk_cat text[],
    p_detail jsonb,
    p_scope text, p_key text, p_hash bytea, p_code int, p_body bytea, p_ctype text)
RETURNS boolean LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    IF p_scope IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(1652, hashtext(p_scope || E'\n' || p_key));
        PERFORM 1 FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
        IF FOUND THEN
            RAISE EXCEPTION 'maas_idempotency_race';
        END IF;
    END IF;
    UPDATE bookings SET status = p_status, payment_ref = p_payment, paid_minor = total_minor,
        confirmed_at = p_t, updated_at = p_t
    WHERE id = p_booking AND xmin = p_xmin;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(1651, v.k)
    FROM unnest(p_locks) WITH ORDINALITY AS v(k, i) ORDER BY v.i;
    -- after the locks (a new snapshot): every hold we could race with is committed or
    -- waiting. Per leg, one probe first: the seats of every live leg overlapping it at all;
    -- only when those exceed its capacity, segment by segment.
    PERFORM 1
    FROM unnest(p_trip, p_date, p_board, p_alight, p_route, p_cap)
             AS g(trip_id, service_date, board, alight, route_id, cap),
         LATERAL (SELECT coalesce((SELECT c.seats FROM seat_capacity c
                                   WHERE c.scope = 'trip' AND c.ref_id = g.trip_id),
                                  (SELECT c.seats FROM seat_capacity c
                                   WHERE c.scope = 'trip'
                                     AND c.ref_id = split_part(g.trip_id, '@', 1)),
                                  (SELECT c.seats FROM seat_capacity c
                                   WHERE c.scope = 'route' AND c.ref_id = g.route_id),
                                  g.cap) AS seats) c
    WHERE CASE WHEN (SELECT coalesce(sum(l.passengers), 0) FROM booking_legs l
                     WHERE l.trip_id = g.trip_id AND l.service_date = g.service_date
                       AND l.board_pos < g.alight AND l.alight_pos > g.board
                       AND l.status IN ('held', 'confirmed')
                       AND (l.status = 'confirmed' OR l.hold_until > p_t)) <= c.seats
               THEN false
               ELSE EXISTS (
                   SELECT FROM generate_series(g.board, g.alight - 1) AS s(seg)
                   WHERE (SELECT coalesce(sum(l.passengers), 0) FROM booking_legs l
                          WHERE l.trip_id = g.trip_id AND l.service_date = g.service_date
                            AND l.board_pos <= s.seg AND l.alight_pos > s.seg
                            AND l.status IN ('held', 'confirmed')
                            AND (l.status = 'confirmed' OR l.hold_until > p_t)) > c.seats)
          END;
    IF FOUND THEN
        RAISE EXCEPTION 'maas_confirm_recount';
    END IF;
    UPDATE booking_legs SET status = 'confirmed'
    WHERE booking_id = p_booking AND leg_no = ANY(p_legs) AND status = 'held';
    INSERT INTO tickets (id, booking_id, leg_no, passenger_no, category, status, issued_at)
    SELECT u.id, p_booking, u.leg_no, u.passenger_no, u.category, 'issued', p_t
    FROM unnest(p_tk_id, p_tk_leg, p_tk_pax, p_tk_cat) AS u(id, leg_no, passenger_no, category);
    IF p_scope IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
        VALUES (p_scope, p_key, p_hash, p_code, p_body, p_ctype)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'maas_idempotency_race';
        END IF;
    END IF;
    INSERT INTO booking_events (booking_id, event, from_status, to_status, detail, occurred_at)
    VALUES (p_booking, 'confirm', 'held', p_status, p_detail, p_t);
    RETURN true;
END
$$;
