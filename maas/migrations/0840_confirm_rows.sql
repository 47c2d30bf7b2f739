-- Confirm's write with its legs and tickets as arrays of rows (issue 17, CPU per request;
-- ticketing/store.py `_confirm_from`): replaces maas_confirm_write (0835), which took twelve
-- parallel arrays (a column each: the legs' numbers, trips, dates, positions, routes,
-- capacities; the tickets' ids, legs, passengers, categories). The worker's driver (asyncpg)
-- checks every array and every array element against the collections ABCs before encoding
-- it, a Python-level call each (~84 per two-leg, two-passenger confirm); as rows, one check
-- per row, as the hold's (maas_hold_rows, 0836). The statement is otherwise maas_confirm_write's
-- (see 0835 for the lock order, the version check, the recount and the key's race). Nothing
-- calls maas_confirm_write after this release; an upgrade that brings migrations stops every
-- instance first (deploy/README.md), so it is dropped here.
CREATE TYPE maas_confirm_leg AS (
    leg_no int, trip_id text, service_date date, board_pos int, alight_pos int, route_id text,
    cap int);
CREATE TYPE maas_confirm_ticket AS (id text, leg_no int, passenger_no int, category text);

CREATE OR REPLACE FUNCTION maas_confirm_rows(
    p_booking text, p_xmin xid, p_t timestamptz, p_status text, p_payment text,
    p_legs maas_confirm_leg[], p_locks int[], p_tickets maas_confirm_ticket[], p_detail jsonb,
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
    FROM unnest(p_legs) AS g,
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
                       AND l.board_pos < g.alight_pos AND l.alight_pos > g.board_pos
                       AND l.status IN ('held', 'confirmed')
                       AND (l.status = 'confirmed' OR l.hold_until > p_t)) <= c.seats
               THEN false
               ELSE EXISTS (
                   SELECT FROM generate_series(g.board_pos, g.alight_pos - 1) AS s(seg)
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
    WHERE booking_id = p_booking AND leg_no = ANY(ARRAY(SELECT g.leg_no FROM unnest(p_legs) AS g))
      AND status = 'held';
    INSERT INTO tickets (id, booking_id, leg_no, passenger_no, category, status, issued_at)
    SELECT u.id, p_booking, u.leg_no, u.passenger_no, u.category, 'issued', p_t
    FROM unnest(p_tickets) AS u;
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

DROP FUNCTION IF EXISTS maas_confirm_write;
