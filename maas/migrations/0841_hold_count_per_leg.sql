-- A hold's seat count read once per leg (issue 17, CPU per request; ticketing/store.py
-- `hold`): maas_hold_rows (0836) filtered every (leg, segment) pair with a probe of
-- booking_legs_occupancy (the live legs covering the segment, every one read) and three of
-- seat_capacity's key (the leg's trip override, its GTFS trip's, its route's), so a leg's
-- capacity was looked up once per segment and a booked leg was read once per segment it
-- covers. Here, per leg: its capacity, and one probe of the live legs overlapping its span,
-- summed per (boarding, alighting) pair; each segment then adds up those few sums. The probe
-- is a LATERAL subquery, so it runs per leg on the index (as a join it was planned as a hash
-- join over a scan of all of booking_legs). The statement is otherwise 0836's: the same locks
-- in the same order, the seats counted per (leg, segment) after them against the same
-- capacity, the same first short leg, the same writes, refusals and replays.
CREATE OR REPLACE FUNCTION maas_hold_rows(
    p_id text, p_account text, p_status text, p_itinerary text, p_versions jsonb,
    p_currency text, p_total bigint, p_expires timestamptz, p_now timestamptz, p_detail jsonb,
    p_modes text[], p_wheelchair boolean, p_max_walk double precision, p_min_transfer int,
    p_profile jsonb, p_pax maas_hold_passenger[], p_legs maas_hold_leg[], p_locks int[],
    p_scope text, p_key text, p_hash bytea, p_code int, p_body bytea, p_ctype text)
RETURNS TABLE (short_leg int, replay idempotency_keys)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    stored idempotency_keys;
    v_short int;
    v_n int := cardinality(p_pax);
    written boolean;
BEGIN
    -- the key's claim first, then the segments (one lock order everywhere: key, booking, segments)
    PERFORM pg_advisory_xact_lock(u.c, u.k)
    FROM (SELECT 1652 AS c, hashtext(p_scope || E'\n' || p_key) AS k, 0::bigint AS i
          WHERE p_scope IS NOT NULL
          UNION ALL SELECT 1651, v.k, v.i FROM unnest(p_locks) WITH ORDINALITY AS v(k, i)) u
    ORDER BY u.i;
    -- after the locks (a new snapshot): a duplicate's key, and every hold we could race with,
    -- are committed or waiting
    SELECT k.* INTO stored FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
    IF stored.scope IS NOT NULL THEN
        RETURN QUERY SELECT NULL::int, stored;   -- a used key: nothing checked, nothing written
        RETURN;
    END IF;
    WITH g AS MATERIALIZED (   -- each leg with its capacity, looked up once
        SELECT g.leg_no, g.trip_id, g.service_date, g.board_pos, g.alight_pos,
               coalesce((SELECT c.seats FROM seat_capacity c
                          WHERE c.scope = 'trip' AND c.ref_id = g.trip_id),
                        (SELECT c.seats FROM seat_capacity c
                          WHERE c.scope = 'trip' AND c.ref_id = split_part(g.trip_id, '@', 1)),
                        (SELECT c.seats FROM seat_capacity c
                          WHERE c.scope = 'route' AND c.ref_id = g.route_id),
                        g.cap) AS seats
        FROM unnest(p_legs) AS g),
      taken AS MATERIALIZED (  -- the seats taken on each leg's span: one probe per leg
        SELECT g.leg_no, t.board_pos, t.alight_pos, t.passengers
        FROM g CROSS JOIN LATERAL (
            SELECT l.board_pos, l.alight_pos, sum(l.passengers)::int AS passengers
            FROM booking_legs l
            WHERE l.trip_id = g.trip_id AND l.service_date = g.service_date
              AND l.board_pos < g.alight_pos AND l.alight_pos > g.board_pos
              AND l.status IN ('held', 'confirmed')
              AND (l.status = 'confirmed' OR l.hold_until > p_now)
            GROUP BY l.board_pos, l.alight_pos) AS t)
    SELECT min(g.leg_no) INTO v_short
    FROM g, generate_series(g.board_pos, g.alight_pos - 1) AS s(seg)
    WHERE (SELECT coalesce(sum(t.passengers), 0) FROM taken t
           WHERE t.leg_no = g.leg_no AND t.board_pos <= s.seg AND t.alight_pos > s.seg)
          + v_n * (SELECT count(*) FROM unnest(p_legs) AS o
                   WHERE o.trip_id = g.trip_id AND o.service_date = g.service_date
                     AND o.board_pos <= s.seg AND o.alight_pos > s.seg) > g.seats;
    IF v_short IS NOT NULL THEN
        RETURN QUERY SELECT v_short, NULL::idempotency_keys;   -- nothing written
        RETURN;
    END IF;
    WITH bk AS (
        INSERT INTO bookings (id, account_id, status, itinerary_id, feed_versions,
            passenger_count, passenger_categories, currency, total_minor, expires_at, created_at,
            updated_at, modes, wheelchair, max_walk_m, min_transfer_s, profile)
        VALUES (p_id, p_account, p_status, p_itinerary, p_versions, v_n,
                ARRAY(SELECT p.category FROM unnest(p_pax) AS p ORDER BY p.passenger_no),
                p_currency, p_total, p_expires, p_now, p_now, p_modes, p_wheelchair, p_max_walk,
                p_min_transfer, p_profile)),
      px AS (
        INSERT INTO booking_passengers (booking_id, passenger_no, category, id_type, key_id,
            name_ct, id_number_ct, name_masked, id_masked, id_index, id_index_key)
        SELECT p_id, p.passenger_no, p.category, p.id_type, p.key_id, p.name_ct,
               p.id_number_ct, p.name_masked, p.id_masked, p.id_index, p.id_index_key
        FROM unnest(p_pax) AS p),
      lg AS (
        INSERT INTO booking_legs (booking_id, leg_no, status, feed, agency_id, agency_name, mode,
            route_id, trip_id, service_date, board_pos, alight_pos, from_stop, to_stop,
            departure, arrival, passengers, hold_until, unit_minor, price_source, price_minor,
            connection_s, lock_ids)
        SELECT p_id, g.leg_no, 'held', g.feed, g.agency_id, g.agency_name, g.mode, g.route_id,
               g.trip_id, g.service_date, g.board_pos, g.alight_pos, g.from_stop, g.to_stop,
               g.departure, g.arrival, v_n, p_expires, g.unit_minor, g.price_source,
               g.price_minor, g.connection_s, g.lock_ids
        FROM unnest(p_legs) AS g),
      ik AS (
        INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
        SELECT p_scope, p_key, p_hash, p_code, p_body, p_ctype WHERE p_scope IS NOT NULL
        ON CONFLICT DO NOTHING RETURNING 1)
    INSERT INTO booking_events (booking_id, event, from_status, to_status, detail, occurred_at)
    VALUES (p_id, 'hold', NULL, p_status, p_detail, p_now)
    RETURNING p_scope IS NULL OR EXISTS (SELECT FROM ik) INTO written;
    IF NOT written THEN   -- the key's row was written meanwhile without its claim: undo, replay
        RAISE EXCEPTION 'maas_idempotency_race';
    END IF;
    RETURN QUERY SELECT NULL::int, NULL::idempotency_keys;
END
$$;
